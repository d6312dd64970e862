#include "vitlens/maps/map_spec.h"

#include "vitlens/errors.h"
#include "vitlens/maps/faithfulness.h"

namespace vitlens {

const std::vector<std::string>& map_method_names() {
    static const std::vector<std::string> names = {"rollout", "attention", "query", "attribution"};
    return names;
}

const char* map_method_name(MapMethod m) {
    switch (m) {
        case MapMethod::Rollout: return "rollout";
        case MapMethod::Attention: return "attention";
        case MapMethod::Query: return "query";
        case MapMethod::Attribution: return "attribution";
        case MapMethod::Features: return "features";
        case MapMethod::Random: return "random";
    }
    return "?";
}

MapMethod parse_map_method(const std::string& s) {
    if (s == "rollout") return MapMethod::Rollout;
    if (s == "attention") return MapMethod::Attention;
    if (s == "query") return MapMethod::Query;
    if (s == "attribution") return MapMethod::Attribution;
    if (s == "features") return MapMethod::Features;
    if (s == "random") return MapMethod::Random;
    throw ArgumentError("map method must be rollout, attention, query, attribution, features or random, got '" + s +
                        "'");
}

std::string precision_problem(MapMethod method, Precision p) {
    // int8 keeps f32 activations: its backward runs in f32 through the dequantised weights.
    if (method != MapMethod::Attribution || p != Precision::BF16) return "";
    return std::string("the attribution map's backward pass runs in f32 or int8, not in ") + precision_name(p);
}

MapNeed map_need(const MapSpec& s) {
    switch (s.method) {
        case MapMethod::Attribution: return MapNeed::Gradients;
        case MapMethod::Features:
        case MapMethod::Random: return MapNeed::None;
        default: return MapNeed::Capture;
    }
}

bool needs_gradients(const MapSpec& s) { return map_need(s) == MapNeed::Gradients; }

TokenLayout token_layout(const ModelSpec& m) {
    return TokenLayout{m.n_prefix, m.grid_h(), m.grid_w(), m.global_pool == "avg", m.registers};
}

void validate(const MapSpec& s, const ModelSpec& m) {
    const std::string L = std::to_string(m.layers), H = std::to_string(m.heads);
    if (s.layer >= m.layers || s.layer < -m.layers)
        throw ArgumentError("layer " + std::to_string(s.layer) + " is out of range: the model has " + L + " layers (0.." +
                            std::to_string(m.layers - 1) + ", or -1..-" + L + " from the last)");
    if (s.head >= m.heads || s.head < -1)
        throw ArgumentError("head " + std::to_string(s.head) + " is out of range: the model has " + H + " heads (0.." +
                            std::to_string(m.heads - 1) + ", or -1 to fuse them)");
    if (s.method == MapMethod::Query &&
        (s.query_row < 0 || s.query_row >= m.grid_h() || s.query_col < 0 || s.query_col >= m.grid_w()))
        throw ArgumentError("query patch " + std::to_string(s.query_row) + "," + std::to_string(s.query_col) +
                            " is outside the " + std::to_string(m.grid_h()) + "x" + std::to_string(m.grid_w()) +
                            " patch grid");
    if (!(s.discard >= 0.f && s.discard < 1.f))
        throw ArgumentError("discard ratio must be in [0, 1), got " + std::to_string(s.discard));
    if (const std::string why = head_problem(m); s.method == MapMethod::Attribution && !why.empty())
        throw ArgumentError("the attribution map explains a class logit, and " + why + ": use rollout, attention or query");
    check_class(s.target_class, m.num_classes, true);
    if (!(s.clip_percentile >= 0.f && s.clip_percentile <= 100.f))
        throw ArgumentError("clip percentile must be in [0, 100], got " + std::to_string(s.clip_percentile));
}

namespace {

// Patch values that rank_patches() orders exactly as random_ranking(seed).
AttentionMap random_map(const TokenLayout& lay, uint64_t seed) {
    const int n = lay.grid_h * lay.grid_w;
    AttentionMap m{lay.grid_h, lay.grid_w, std::vector<float>(size_t(n))};
    const std::vector<int> order = random_ranking(n, seed);
    for (int i = 0; i < n; ++i) m.values[size_t(order[i])] = float(n - i) / float(n);
    return m;
}

}  // namespace

AttentionMap compute_map(const Tensor& att, const Tensor* grad, const TokenLayout& lay, const MapSpec& s) {
    AttentionMap m;
    switch (s.method) {
        case MapMethod::Attribution:
            if (!grad || grad->empty())
                throw ArgumentError("the attribution map needs d logit / d attention (an ExplainRequest with MapNeed::Gradients)");
            m = attribution(att, *grad, lay);
            break;
        case MapMethod::Rollout: m = rollout(att, lay, s.fusion, s.discard); break;
        case MapMethod::Attention: m = attention_map(att, lay, s.layer, s.head, s.fusion); break;
        case MapMethod::Query: m = query_map(att, lay, s.query_row, s.query_col, s.layer, s.head, s.fusion); break;
        case MapMethod::Random: m = random_map(lay, s.seed); break;
        case MapMethod::Features:
            throw ArgumentError("the features view is made from the tokens, not the attention (compute_view)");
    }
    if (s.clip_percentile > 0.f) clip_outliers(m, s.clip_percentile);
    return m;
}

std::string token_label(int token, const TokenLayout& lay) {
    const int first_register = lay.n_prefix - lay.registers;
    if (token < lay.n_prefix && token >= first_register) return "reg" + std::to_string(token - first_register);
    if (token < lay.n_prefix) return "prefix" + std::to_string(token);
    const int p = token - lay.n_prefix;
    return "(" + std::to_string(p / lay.grid_w) + "," + std::to_string(p % lay.grid_w) + ")";
}

}  // namespace vitlens
