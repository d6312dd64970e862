#include "vitlens/model/model_info.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "vitlens/encoder/encoder.h"
#include "vitlens/errors.h"
#include "vitlens/encoder/memory_estimate.h"

namespace vitlens {

namespace {

template <class... A>
std::string fmt(const char* f, A... a) {
    char b[512];
    std::snprintf(b, sizeof b, f, a...);
    return b;
}

}  // namespace

namespace {

std::string prefix_text(const ModelSpec& s) {
    if (s.registers == 0) return fmt("%d prefix", s.n_prefix);
    return fmt("%d prefix: %d class, %d registers", s.n_prefix, s.n_prefix - s.registers, s.registers);
}

std::string positions_text(const ModelSpec& s) {
    std::string out = fmt("learned, %dx%d grid", s.pos_grid_w, s.pos_grid_h);
    if (s.pos_grid_h != s.grid_h() || s.pos_grid_w != s.grid_w())
        out += fmt(" resampled to %dx%d (%s)", s.grid_w(), s.grid_h(),
                   s.pos_resample == PosResample::BicubicAntialias ? "bicubic, antialiased as timm" : "bicubic, as HF");
    if (!s.pos_has_prefix) out += ", none for the prefix tokens";
    return out;
}

std::string head_text(const ModelSpec& s) {
    if (!s.has_head()) return "none: a backbone (features and class-agnostic maps)";
    std::string pool = s.global_pool == "cls_avg" ? "class token + patch mean" : s.global_pool;
    return fmt("%d classes, pool %s%s%s", s.num_classes, pool.c_str(),
               s.distilled_heads ? ", class + distillation heads averaged" : "",
               s.multi_label ? ", multi-label (a sigmoid per class)" : "");
}

std::string maps_text(const ModelSpec& s) {
    if (!s.has_head()) return "rollout, attention, query (no head: no attribution)";
    return std::string("rollout, attention, query; attribution of any class (backward pass, f32)") +
           (s.distilled_heads ? ", of the mean of both heads' logits" : "");
}

// The estimate the encoder checks before a pass (memory_estimate), for one image in f32.
std::string memory_text(const ModelSpec& s) {
    auto total = [&](MapNeed n) { return gigabytes(estimate_memory(s, 1, Precision::F32, n).total()); };
    std::string out = "per image, f32: classify " + total(MapNeed::None) + ", maps " + total(MapNeed::Capture);
    if (s.has_head()) out += ", attribution " + total(MapNeed::Gradients);
    return out + " (estimated at this input size)";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> describe(const ModelSpec& s) {
    return {
        {"architecture", s.architecture + " (" + naming_name(s.naming) + " naming)"},
        {"input", fmt("%dx%d RGB, patch %d -> %dx%d grid, %d tokens (%s)", s.image_w, s.image_h, s.patch, s.grid_w(),
                      s.grid_h(), s.tokens(), prefix_text(s).c_str())},
        {"positions", positions_text(s)},
        {"encoder", fmt("%d layers, width %d, %d heads of %d, MLP %d, %s, LayerNorm eps %g%s%s", s.layers, s.hidden,
                        s.heads, s.head_dim(), s.mlp, s.hidden_act.c_str(), s.eps, s.qkv_bias ? "" : ", no qkv bias",
                        s.layer_scale ? ", LayerScale" : "")},
        {"head", head_text(s)},
        {"parameters", fmt("%lld (%.2f M)", static_cast<long long>(s.parameters()), s.parameters() / 1e6)},
        {"compute", fmt("%.3f GFLOP per image", s.gflops())},
        {"preprocessing", s.pre.describe()},
        {"maps", maps_text(s)},
        {"memory", memory_text(s)},
    };
}

std::string label_list(const ModelSpec& s, int max) {
    const int n = max > 0 ? std::min(max, s.num_classes) : s.num_classes;
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? ", " : "") + s.labels[i];
    if (n < s.num_classes) out += ", ... (" + std::to_string(s.num_classes - n) + " more)";
    return out;
}

int class_index(const ModelSpec& s, const std::string& text) {
    const int K = s.num_classes;
    const std::string range = "the model has " + std::to_string(K) + " classes (0.." + std::to_string(K - 1) + ")";
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
        if (text.size() > 9) throw ArgumentError("class " + text + " is out of range: " + range);
        check_class(std::stoi(text), K, false);
        return std::stoi(text);
    }
    auto lower = [](std::string v) {
        for (char& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
        return v;
    };
    for (int k = 0; k < K && k < int(s.labels.size()); ++k)
        if (lower(s.labels[size_t(k)]) == lower(text)) return k;
    throw ArgumentError("class '" + text + "' is neither an index nor a label: " + range + ", labelled " +
                        label_list(s, 8));
}

}  // namespace vitlens
