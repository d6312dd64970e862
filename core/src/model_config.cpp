#include "vitlens/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "vitlens/errors.h"
#include "vitlens/input_file.h"
#include "vitlens/weights.h"

namespace vitlens {

using json = nlohmann::json;

const char* naming_name(Naming n) {
    switch (n) {
        case Naming::HfVit: return "hf-vit";
        case Naming::HfDeit: return "hf-deit";
        case Naming::HfDinov2: return "hf-dinov2";
        case Naming::Timm: return "timm";
    }
    return "?";
}

const char* interp_name(Interp i) {
    switch (i) {
        case Interp::Nearest: return "nearest";
        case Interp::Lanczos: return "lanczos";
        case Interp::Bilinear: return "bilinear";
        case Interp::Bicubic: return "bicubic";
        case Interp::Box: return "box";
        case Interp::Hamming: return "hamming";
    }
    return "?";
}

std::string Preprocess::describe() const {
    std::ostringstream s;
    switch (resize) {
        case Resize::None: s << "no resize"; break;
        case Resize::Exact: s << "resize to " << resize_w << "x" << resize_h; break;
        case Resize::ShortestEdge: s << "resize shortest edge to " << edge; break;
        case Resize::LongestEdge: s << "resize to fit " << resize_w << "x" << resize_h << " keeping the aspect ratio"; break;
    }
    s << " (" << interp_name(interp) << ", antialiased)";
    if (center_crop) s << ", center crop " << crop_w << "x" << crop_h << (pad_to_crop ? " (padded)" : "");
    s << ", scale x" << rescale << ", mean [" << mean[0] << ", " << mean[1] << ", " << mean[2] << "], std ["
      << std[0] << ", " << std[1] << ", " << std[2] << "], RGB; from " << source;
    return s.str();
}

std::string head_problem(const ModelSpec& s) {
    if (s.has_head()) return "";
    return s.dir + ": " + s.architecture + " has no classifier head (a backbone)";
}

void check_class(int cls, int num_classes, bool top1_allowed) {
    if ((cls >= 0 && cls < num_classes) || (top1_allowed && cls == -1)) return;
    throw ArgumentError("class " + std::to_string(cls) + " is out of range: the model has " +
                        std::to_string(num_classes) + " classes (0.." + std::to_string(num_classes - 1) +
                        (top1_allowed ? ", or -1 for the top-1)" : ")"));
}

int64_t ModelSpec::parameters() const {
    int64_t D = hidden, I = mlp, K = num_classes;
    const int64_t pos_rows = pos_grid_h > 0 ? (pos_has_prefix ? n_prefix : 0) + int64_t(pos_grid_h) * pos_grid_w : tokens();
    int64_t p = D * patch_dim() + D + int64_t(n_prefix) * D + pos_rows * D;
    p += int64_t(layers) * (4 * D + 3 * D * D + (qkv_bias ? 3 * D : 0) + D * D + D + D * I + I + I * D + D);
    if (layer_scale) p += int64_t(layers) * 2 * D;
    p += 2 * D + (K * head_in() + K) * (distilled_heads ? 2 : 1);
    return p;
}

double ModelSpec::gflops() const {
    double N = patches(), T = tokens(), D = hidden, I = mlp;
    double macs = N * patch_dim() * D;
    macs += layers * (T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * I);
    macs += double(head_in()) * num_classes * (distilled_heads ? 2 : 1);
    return 2 * macs / 1e9;
}

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& what) { throw ModelError(file + ": " + what); }

std::string read_file(const std::string& path) {
    if (const std::string why = not_a_regular_file(path); !why.empty() && why != "does not exist") fail(path, why);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ModelError(path + ": cannot open (missing or unreadable)");
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

json parse_json(const std::string& text, const std::string& name) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) fail(name, "top level is not a JSON object");
        return j;
    } catch (const json::exception& e) {
        fail(name, std::string("not valid JSON: ") + e.what());
    }
}

// Integer field with bounds; `def` < 0 means required.
int get_int(const json& j, const std::string& key, const std::string& file, int def, int lo, int hi) {
    if (!j.contains(key) || j[key].is_null()) {
        if (def < 0) fail(file, "missing key '" + key + "'");
        return def;
    }
    const json& v = j[key];
    if (!v.is_number()) fail(file, "'" + key + "' must be a number, got " + std::string(v.type_name()));
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) fail(file, "'" + key + "' must be an integer, got " + v.dump());
    if (d < lo || d > hi)
        fail(file, "'" + key + "' = " + v.dump() + " is out of range [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return static_cast<int>(d);
}

float get_float(const json& j, const std::string& key, const std::string& file, float def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) fail(file, "'" + key + "' must be a number, got " + std::string(j[key].type_name()));
    double d = j[key].get<double>();
    if (!std::isfinite(d)) fail(file, "'" + key + "' is not finite");
    return static_cast<float>(d);
}

bool get_bool(const json& j, const std::string& key, const std::string& file, bool def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(file, "'" + key + "' must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
}

// A number or an array of 1 or 3 numbers, in double precision (as Python reads it).
std::array<double, 3> get_triple_d(const json& j, const std::string& key, const std::string& file,
                                   std::array<double, 3> def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    const json& v = j[key];
    if (!v.is_number() && (!v.is_array() || (v.size() != 3 && v.size() != 1)))
        fail(file, "'" + key + "' must be a number or an array of 3 numbers, got " + v.dump());
    std::array<double, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
        const json& e = v.is_number() ? v : v[v.size() == 1 ? 0 : i];
        if (!e.is_number()) fail(file, "'" + key + "' must hold numbers, got " + v.dump());
        out[i] = e.get<double>();
        if (!std::isfinite(static_cast<float>(out[i]))) fail(file, "'" + key + "' is not finite");
    }
    return out;
}

std::array<float, 3> get_triple(const json& j, const std::string& key, const std::string& file,
                                std::array<float, 3> def) {
    auto d = get_triple_d(j, key, file, {def[0], def[1], def[2]});
    return {static_cast<float>(d[0]), static_cast<float>(d[1]), static_cast<float>(d[2])};
}

// id2label with string or integer keys and values; every index 0..n-1 present.
std::vector<std::string> read_id2label(const json& v, const std::string& file, int max_classes) {
    if (!v.is_object()) fail(file, "'id2label' must be an object, got " + std::string(v.type_name()));
    if (v.size() > static_cast<size_t>(max_classes))
        fail(file, "'id2label' has " + std::to_string(v.size()) + " entries, over the limit " +
                       std::to_string(max_classes));
    std::map<long, std::string> m;
    for (auto it = v.begin(); it != v.end(); ++it) {
        long idx;
        try {
            size_t used = 0;
            idx = std::stol(it.key(), &used);
            if (used != it.key().size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            fail(file, "'id2label' key '" + it.key() + "' is not an integer");
        }
        std::string label;
        if (it.value().is_string()) label = it.value().get<std::string>();
        else if (it.value().is_number()) label = it.value().dump();
        else fail(file, "'id2label' value for " + it.key() + " must be a string or number");
        m[idx] = label;
    }
    std::vector<std::string> labels;
    for (long i = 0; i < static_cast<long>(m.size()); ++i) {
        auto it = m.find(i);
        if (it == m.end())
            fail(file, "'id2label' has a gap: index " + std::to_string(i) + " is missing (" +
                           std::to_string(m.size()) + " labels, indices must be 0.." +
                           std::to_string(m.size() - 1) + ")");
        labels.push_back(it->second);
    }
    return labels;
}

void check_dims(ModelSpec& s, const std::string& file, const SpecLimits& lim) {
    if (s.heads <= 0 || s.hidden % s.heads != 0)
        fail(file, "hidden_size " + std::to_string(s.hidden) + " is not divisible by num_attention_heads " +
                       std::to_string(s.heads));
    if (s.patch <= 0 || s.image_h % s.patch != 0 || s.image_w % s.patch != 0)
        fail(file, "image size " + std::to_string(s.image_h) + "x" + std::to_string(s.image_w) +
                       " is not a multiple of patch_size " + std::to_string(s.patch));
    if (s.tokens() > lim.max_tokens)
        fail(file, std::to_string(s.tokens()) + " tokens exceed the limit " + std::to_string(lim.max_tokens));
    if (s.hidden_act != "gelu" && s.hidden_act != "gelu_new" && s.hidden_act != "gelu_pytorch_tanh")
        fail(file, "hidden_act '" + s.hidden_act + "' is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
}

// timm: heads by architecture name; depth, width, patch from the tensors.
int timm_heads(const std::string& arch, int hidden) {
    static const std::vector<std::pair<std::string, int>> sizes = {
        {"_tiny", 3}, {"_small", 6}, {"_medium", 8}, {"_base", 12}, {"_large", 16}, {"_huge", 16},
        {"_giant", 16}};
    std::string a = "_" + arch;
    for (auto& [k, h] : sizes)
        if (a.find(k + "_") != std::string::npos || a.find(k + "patch") != std::string::npos) return h;
    return hidden % 64 == 0 ? hidden / 64 : 0;
}

// Width, patch size, depth and MLP width, read from the tensors.
void timm_dims(ModelSpec& s, const SafeTensors& w, const SpecLimits& lim) {
    auto shape = [&](const std::string& name) -> const std::vector<int64_t>& { return w.info(name).shape; };
    const auto& pe = shape("patch_embed.proj.weight");
    if (pe.size() != 4 || pe[2] != pe[3])
        fail(w.path(), "tensor 'patch_embed.proj.weight' has shape " + shape_str(pe) + ", expected [D, C, P, P]");
    s.hidden = static_cast<int>(std::min<int64_t>(pe[0], lim.max_hidden + 1));
    s.channels = static_cast<int>(std::min<int64_t>(pe[1], 16));
    s.patch = static_cast<int>(std::min<int64_t>(pe[2], lim.max_image + 1));
    if (s.hidden < 1 || s.hidden > lim.max_hidden) fail(w.path(), "width " + std::to_string(pe[0]) + " out of range");
    if (s.channels != 3) fail(w.path(), "patch_embed.proj.weight has " + std::to_string(pe[1]) + " input channels, expected 3");
    if (s.patch < 1 || s.patch > lim.max_image) fail(w.path(), "patch size " + std::to_string(pe[2]) + " out of range");
    int depth = 0;
    while (depth <= lim.max_layers && w.contains("blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
    if (depth == 0) fail(w.path(), "no 'blocks.0.norm1.weight': not a timm vision_transformer checkpoint");
    if (depth > lim.max_layers) fail(w.path(), "more than " + std::to_string(lim.max_layers) + " blocks");
    s.layers = depth;
    const auto& fc1 = shape("blocks.0.mlp.fc1.weight");
    if (fc1.size() != 2 || fc1[0] < 1 || fc1[0] > lim.max_mlp)
        fail(w.path(), "tensor 'blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1) + ", expected [MLP, " +
                           std::to_string(s.hidden) + "]");
    s.mlp = static_cast<int>(fc1[0]);
}

// Heads from the name; class, distillation and register tokens from the tensors.
void timm_tokens(ModelSpec& s, const std::string& file, const SafeTensors& w) {
    auto shape = [&](const std::string& name) -> const std::vector<int64_t>& { return w.info(name).shape; };
    s.qkv_bias = w.contains("blocks.0.attn.qkv.bias");
    s.heads = timm_heads(s.architecture, s.hidden);
    if (s.heads == 0)
        fail(file, "cannot tell the head count of '" + s.architecture +
                       "' (expected tiny/small/medium/base/large/huge in the name)");
    s.eps = 1e-6f;
    s.hidden_act = "gelu";
    s.n_prefix = 0;
    if (w.contains("cls_token")) s.n_prefix += 1;
    if (w.contains("dist_token")) { s.n_prefix += 1; s.distilled_heads = w.contains("head_dist.weight"); }
    if (w.contains("reg_token")) {
        const auto& r = shape("reg_token");
        if (r.size() != 3 || r[1] < 0 || r[1] > 64) fail(w.path(), "tensor 'reg_token' has shape " + shape_str(r));
        s.n_prefix += static_cast<int>(r[1]);
        s.registers = static_cast<int>(r[1]);
    }
    s.layer_scale = w.contains("blocks.0.ls1.gamma");
}

void timm_pooling(ModelSpec& s, const json& j, const std::string& file, const SafeTensors& w) {
    s.global_pool = "token";
    if (j.contains("global_pool") && j["global_pool"].is_string()) s.global_pool = j["global_pool"].get<std::string>();
    if (s.global_pool.empty()) s.global_pool = "token";
    if (s.global_pool != "token" && s.global_pool != "avg")
        fail(file, "global_pool '" + s.global_pool + "' is not supported (token, avg)");
    s.fc_norm = w.contains("fc_norm.weight");
    if (s.global_pool == "token" && s.n_prefix == 0) fail(file, "global_pool 'token' but the checkpoint has no cls_token");
    if (s.registers > 0 && s.global_pool == "token" && !w.contains("cls_token"))
        fail(file, "global_pool 'token' but the checkpoint has register tokens and no cls_token");
}

// pretrained_cfg.input_size ([C, H, W], default 224).
void timm_input_size(ModelSpec& s, const json& pc, const std::string& file, const SpecLimits& lim) {
    s.image_h = s.image_w = 224;
    if (pc.contains("input_size")) {
        const json& is = pc["input_size"];
        if (!is.is_array() || is.size() != 3) fail(file, "pretrained_cfg.input_size must be [C, H, W], got " + is.dump());
        for (const json& e : is)
            if (!e.is_number_integer()) fail(file, "pretrained_cfg.input_size must hold integers, got " + is.dump());
        s.image_h = is[1].get<int>();
        s.image_w = is[2].get<int>();
        if (s.image_h < 1 || s.image_h > lim.max_image || s.image_w < 1 || s.image_w > lim.max_image)
            fail(file, "pretrained_cfg.input_size " + is.dump() + " is out of range");
    }
}

// Whether pos_embed has rows for the prefix tokens (timm no_embed_class:
// DeiT III, DINOv2 have none), read from its row count on the native grid.
void timm_pos_layout(ModelSpec& s, const SafeTensors& w) {
    const auto& pe = w.info("pos_embed").shape;
    s.pos_grid_h = s.patch > 0 ? s.image_h / s.patch : 0;
    s.pos_grid_w = s.patch > 0 ? s.image_w / s.patch : 0;
    s.pos_resample = PosResample::BicubicAntialias;
    const int64_t cells = int64_t(s.pos_grid_h) * s.pos_grid_w;
    if (pe.size() != 3) fail(w.path(), "tensor 'pos_embed' has shape " + shape_str(pe) + ", expected [1, tokens, D]");
    if (pe[1] == cells) s.pos_has_prefix = false;
    else if (pe[1] == cells + s.n_prefix) s.pos_has_prefix = true;
    else
        fail(w.path(), "tensor 'pos_embed' has " + std::to_string(pe[1]) + " rows; the native " +
                           std::to_string(s.pos_grid_h) + "x" + std::to_string(s.pos_grid_w) + " patch grid needs " +
                           std::to_string(cells) + " (no class position) or " + std::to_string(cells + s.n_prefix));
}

Interp parse_interp(const std::string& interp, const std::string& file) {
    if (interp == "bicubic") return Interp::Bicubic;
    if (interp == "bilinear") return Interp::Bilinear;
    if (interp == "nearest") return Interp::Nearest;
    if (interp == "lanczos") return Interp::Lanczos;
    if (interp == "box") return Interp::Box;
    if (interp == "hamming") return Interp::Hamming;
    fail(file, "pretrained_cfg.interpolation '" + interp + "' is not supported");
}

// timm's resize for an input of h x w: floor(size / crop_pct), keeping the
// aspect ratio (center crop of a square), squashing, or fitting inside (border).
void timm_resize(Preprocess& p, int h, int w) {
    const float pct = p.crop_pct > 0 ? p.crop_pct : 1.0f;
    const int scale_h = static_cast<int>(std::floor(h / pct));
    const int scale_w = static_cast<int>(std::floor(w / pct));
    p.center_crop = true;
    p.crop_h = h;
    p.crop_w = w;
    p.resize_h = scale_h;
    p.resize_w = scale_w;
    p.edge = scale_h;
    if (p.crop_mode == "center" || p.crop_mode.empty()) p.resize = h == w ? Preprocess::Resize::ShortestEdge : Preprocess::Resize::Exact;
    else if (p.crop_mode == "squash") p.resize = Preprocess::Resize::Exact;
    else p.resize = Preprocess::Resize::LongestEdge;
    p.pad_to_crop = p.crop_mode == "border";
}

// timm's eval transform from pretrained_cfg: interpolation, crop_pct, crop_mode, mean, std.
void timm_preprocess(ModelSpec& s, const json& pc, const std::string& file) {
    Preprocess& p = s.pre;
    p.source = "pretrained_cfg";
    p.interp = parse_interp(pc.value("interpolation", std::string("bicubic")), file);
    p.crop_pct = get_float(pc, "crop_pct", file, 0.875f);
    if (!(p.crop_pct > 0.05f && p.crop_pct <= 4.0f))
        fail(file, "pretrained_cfg.crop_pct " + std::to_string(p.crop_pct) + " is out of range");
    p.crop_mode = pc.value("crop_mode", std::string("center"));
    if (p.crop_mode != "center" && p.crop_mode != "squash" && p.crop_mode != "border")
        fail(file, "pretrained_cfg.crop_mode '" + p.crop_mode + "' is not supported (center, squash, border)");
    timm_resize(p, s.image_h, s.image_w);
    p.crop_round_half_even = true;
    p.mean = get_triple(pc, "mean", file, {0.485f, 0.456f, 0.406f});
    p.std = get_triple(pc, "std", file, {0.229f, 0.224f, 0.225f});
    // timm fills the border with [round(255 * m) for m in mean]: Python's round of a double
    const auto mean_d = get_triple_d(pc, "mean", file, {0.485, 0.456, 0.406});
    for (int c = 0; c < 3; ++c) p.pad_fill[c] = static_cast<uint8_t>(std::clamp(std::nearbyint(255.0 * mean_d[c]), 0.0, 255.0));
    p.rescale = 1.0f / 255.0f;
}

void fill_timm(ModelSpec& s, const json& j, const std::string& file, const SafeTensors& w, const SpecLimits& lim) {
    timm_dims(s, w, lim);
    timm_tokens(s, file, w);
    timm_pooling(s, j, file, w);
    const json empty = json::object();
    const json& pc = (j.contains("pretrained_cfg") && j["pretrained_cfg"].is_object()) ? j["pretrained_cfg"] : empty;
    timm_input_size(s, pc, file, lim);
    timm_pos_layout(s, w);
    // A checkpoint without head.weight is a backbone (timm num_classes=0).
    s.num_classes = w.contains("head.weight") ? get_int(j, "num_classes", file, -1, 1, lim.max_classes) : 0;
    if (j.contains("label_names") && j["label_names"].is_array()) {
        for (const json& e : j["label_names"]) {
            if (!e.is_string()) fail(file, "'label_names' must hold strings");
            s.labels.push_back(e.get<std::string>());
        }
    }
    timm_preprocess(s, pc, file);
}

// Naming and pooling from architectures[0]; true for a model without a head.
bool hf_architecture(ModelSpec& s, const std::string& file) {
    const std::string& a = s.architecture;
    if (a == "ViTForImageClassification") s.naming = Naming::HfVit;
    else if (a == "ViTModel") { s.naming = Naming::HfVit; return true; }
    else if (a == "DeiTForImageClassification") s.naming = Naming::HfDeit;
    else if (a == "DeiTForImageClassificationWithTeacher") {
        s.naming = Naming::HfDeit;
        s.distilled_heads = true;
    } else if (a == "Dinov2ForImageClassification") {
        s.naming = Naming::HfDinov2;
        s.global_pool = "cls_avg";
    } else if (a == "Dinov2Model") {
        s.naming = Naming::HfDinov2;
        return true;
    } else {
        fail(file, "architecture '" + a +
                       "' is not supported (ViTForImageClassification, ViTModel, DeiTForImageClassification, "
                       "DeiTForImageClassificationWithTeacher, Dinov2ForImageClassification, Dinov2Model, "
                       "or a timm vision_transformer config)");
    }
    return false;
}

// Dims, activation and LayerNorm epsilon of a Hugging Face config.
void hf_dims(ModelSpec& s, const json& j, const std::string& file, const SpecLimits& lim) {
    const bool dinov2 = s.naming == Naming::HfDinov2;
    s.hidden = get_int(j, "hidden_size", file, 768, 1, lim.max_hidden);
    s.layers = get_int(j, "num_hidden_layers", file, 12, 1, lim.max_layers);
    s.heads = get_int(j, "num_attention_heads", file, 12, 1, lim.max_heads);
    if (dinov2) {  // Dinov2Config: the MLP width is hidden_size x mlp_ratio, LayerScale in every block
        if (get_bool(j, "use_swiglu_ffn", file, false))
            fail(file, "'use_swiglu_ffn' (the SwiGLU MLP of DINOv2 giant) is not supported");
        const float ratio = get_float(j, "mlp_ratio", file, 4.0f);
        if (!(ratio > 0 && double(ratio) * s.hidden <= lim.max_mlp))
            fail(file, "'mlp_ratio' " + std::to_string(ratio) + " is out of range");
        s.mlp = static_cast<int>(s.hidden * ratio);
        s.layer_scale = true;
    } else {
        s.mlp = get_int(j, "intermediate_size", file, 3072, 1, lim.max_mlp);
    }
    s.image_h = s.image_w = get_int(j, "image_size", file, dinov2 ? 518 : 224, 1, lim.max_image);
    s.patch = get_int(j, "patch_size", file, dinov2 ? 14 : 16, 1, lim.max_image);
    s.channels = get_int(j, "num_channels", file, 3, 1, 16);
    if (s.channels != 3) fail(file, "num_channels " + std::to_string(s.channels) + " is not supported (3)");
    s.qkv_bias = get_bool(j, "qkv_bias", file, true);
    s.eps = get_float(j, "layer_norm_eps", file, dinov2 ? 1e-6f : 1e-12f);
    if (!(s.eps > 0 && s.eps < 1)) fail(file, "'layer_norm_eps' must be in (0, 1)");
    if (j.contains("hidden_act")) {
        if (!j["hidden_act"].is_string()) fail(file, "'hidden_act' must be a string");
        s.hidden_act = j["hidden_act"].get<std::string>();
    }
    s.n_prefix = s.naming == Naming::HfDeit ? 2 : 1;
    s.pos_grid_h = s.image_h / s.patch;
    s.pos_grid_w = s.image_w / s.patch;
}

// Classes and labels: id2label, else num_labels, else the head's rows.
void hf_classes(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights,
                const SpecLimits& lim) {
    if (j.contains("problem_type") && j["problem_type"].is_string())
        s.multi_label = j["problem_type"].get<std::string>() == "multi_label_classification";
    if (j.contains("id2label")) s.labels = read_id2label(j["id2label"], file, lim.max_classes);
    if (j.contains("num_labels")) s.num_classes = get_int(j, "num_labels", file, 0, 1, lim.max_classes);
    if (!s.labels.empty()) s.num_classes = static_cast<int>(s.labels.size());
    if (s.num_classes == 0 && weights) {
        std::string head = s.naming == Naming::HfDeit && s.distilled_heads ? "cls_classifier.weight" : "classifier.weight";
        if (weights->contains(head)) {
            const auto& hs = weights->info(head).shape;
            if (hs.size() == 2 && hs[0] > 0 && hs[0] <= lim.max_classes) s.num_classes = static_cast<int>(hs[0]);
        }
    }
    if (s.num_classes == 0) fail(file, "no 'id2label' or 'num_labels': cannot tell the number of classes");
}

void fill_hf(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights, const SpecLimits& lim) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string())
        fail(file, "'architectures' must be a non-empty array of strings");
    s.architecture = a[0].get<std::string>();
    const bool backbone = hf_architecture(s, file);
    hf_dims(s, j, file, lim);
    if (!backbone) hf_classes(s, j, file, weights, lim);  // a backbone's id2label describes no head
    // Default preprocessing of ViTImageProcessor, used without a preprocessor_config.json.
    s.pre.resize = Preprocess::Resize::Exact;
    s.pre.resize_h = s.image_h;
    s.pre.resize_w = s.image_w;
    s.pre.interp = Interp::Bilinear;
    s.pre.source = "defaults (no preprocessor_config.json)";
}

}  // namespace

ModelSpec parse_model_config(const std::string& text, const std::string& file, const SafeTensors* weights,
                             const SpecLimits& lim) {
    json j = parse_json(text, file);
    ModelSpec s;
    if (j.contains("architectures")) {
        fill_hf(s, j, file, weights, lim);
    } else if (j.contains("architecture")) {
        if (!j["architecture"].is_string()) fail(file, "'architecture' must be a string");
        s.architecture = j["architecture"].get<std::string>();
        s.naming = Naming::Timm;
        if (!weights) fail(file, "a timm config needs the weights to tell depth and width");
        static const std::regex vit_like("^(vit|deit|deit3)_.*");
        if (!std::regex_match(s.architecture, vit_like))
            fail(file, "timm architecture '" + s.architecture + "' is not a vision_transformer (vit_*, deit_*, deit3_*)");
        fill_timm(s, j, file, *weights, lim);
    } else {
        fail(file, "neither 'architectures' (Hugging Face) nor 'architecture' (timm) is present");
    }
    if (s.labels.empty())
        for (int i = 0; i < s.num_classes; ++i) s.labels.push_back("class " + std::to_string(i));
    if (static_cast<int>(s.labels.size()) != s.num_classes)
        fail(file, std::to_string(s.labels.size()) + " labels for " + std::to_string(s.num_classes) + " classes");
    check_dims(s, file, lim);
    return s;
}

namespace {

// do_resize and size: none, an exact HxW, or a shortest edge.
void parse_hf_resize(const json& j, const std::string& file, const ModelSpec& spec, Preprocess& p) {
    bool do_resize = get_bool(j, "do_resize", file, true);
    if (!do_resize) {
        p.resize = Preprocess::Resize::None;
    } else if (j.contains("size") && !j["size"].is_null()) {
        const json& sz = j["size"];
        if (sz.is_number()) {
            int v = get_int(j, "size", file, -1, 1, 8192);
            p.resize = Preprocess::Resize::Exact;
            p.resize_h = p.resize_w = v;
        } else if (sz.is_object()) {
            if (sz.contains("height") || sz.contains("width")) {
                p.resize = Preprocess::Resize::Exact;
                p.resize_h = get_int(sz, "height", file + " size", -1, 1, 8192);
                p.resize_w = get_int(sz, "width", file + " size", -1, 1, 8192);
            } else if (sz.contains("shortest_edge")) {
                p.resize = Preprocess::Resize::ShortestEdge;
                p.edge = get_int(sz, "shortest_edge", file + " size", -1, 1, 8192);
            } else {
                fail(file, "'size' must have height/width or shortest_edge, got " + sz.dump());
            }
        } else {
            fail(file, "'size' must be an integer or an object, got " + sz.dump());
        }
    } else {
        p.resize = Preprocess::Resize::Exact;
        p.resize_h = spec.image_h;
        p.resize_w = spec.image_w;
    }
}

// do_rescale, do_normalize and their values.
void parse_hf_normalize(const json& j, const std::string& file, Preprocess& p) {
    bool do_rescale = get_bool(j, "do_rescale", file, true);
    p.rescale = do_rescale ? get_float(j, "rescale_factor", file, 1.0f / 255.0f) : 1.0f;
    bool do_norm = get_bool(j, "do_normalize", file, true);
    if (do_norm) {
        p.mean = get_triple(j, "image_mean", file, {0.5f, 0.5f, 0.5f});
        p.std = get_triple(j, "image_std", file, {0.5f, 0.5f, 0.5f});
        for (float s : p.std)
            if (!(s > 0)) fail(file, "'image_std' entries must be positive");
    } else {
        p.mean = {0, 0, 0};
        p.std = {1, 1, 1};
    }
}

}  // namespace

Preprocess parse_preprocessor_config(const std::string& text, const std::string& file, const ModelSpec& spec) {
    json j = parse_json(text, file);
    Preprocess p = spec.pre;
    p.source = "preprocessor_config.json";
    p.crop_round_half_even = false;
    parse_hf_resize(j, file, spec, p);
    int rs = get_int(j, "resample", file, 2, 0, 5);
    p.interp = static_cast<Interp>(rs);
    p.center_crop = get_bool(j, "do_center_crop", file, false);
    if (p.center_crop) {
        const json& cs = j.contains("crop_size") ? j["crop_size"] : json(spec.image_h);
        if (cs.is_number()) {
            p.crop_h = p.crop_w = get_int(j.contains("crop_size") ? j : json{{"crop_size", spec.image_h}},
                                          "crop_size", file, -1, 1, 8192);
        } else if (cs.is_object()) {
            p.crop_h = get_int(cs, "height", file + " crop_size", -1, 1, 8192);
            p.crop_w = get_int(cs, "width", file + " crop_size", -1, 1, 8192);
        } else {
            fail(file, "'crop_size' must be an integer or an object, got " + cs.dump());
        }
    }
    parse_hf_normalize(j, file, p);
    // The model input must come out at the model's size; DINOv2 runs at its
    // processor's size (224) with the position embedding resampled from 518.
    int out_h = p.center_crop ? p.crop_h : (p.resize == Preprocess::Resize::Exact ? p.resize_h : -1);
    int out_w = p.center_crop ? p.crop_w : (p.resize == Preprocess::Resize::Exact ? p.resize_w : -1);
    if (spec.naming == Naming::HfDinov2 && out_h > 0 && out_w > 0) return p;
    if (out_h != spec.image_h || out_w != spec.image_w)
        fail(file, "preprocessing yields " + (out_h < 0 ? std::string("a variable size") :
                                              std::to_string(out_w) + "x" + std::to_string(out_h)) +
                       ", but config.json says image_size " + std::to_string(spec.image_w) + "x" +
                       std::to_string(spec.image_h));
    return p;
}

ModelSpec read_model_spec(const std::string& dir, const SafeTensors& weights, const SpecLimits& limits) {
    std::string cfg_path = dir + "/config.json";
    ModelSpec s = parse_model_config(read_file(cfg_path), cfg_path, &weights, limits);
    s.dir = dir;
    if (s.naming != Naming::Timm) {
        std::string pp = dir + "/preprocessor_config.json";
        if (not_a_regular_file(pp) != "does not exist") s.pre = parse_preprocessor_config(read_file(pp), pp, s);
        if (s.naming == Naming::HfDinov2) {
            const int h = s.pre.center_crop ? s.pre.crop_h : s.pre.resize_h, w = s.pre.center_crop ? s.pre.crop_w : s.pre.resize_w;
            if (h % s.patch || w % s.patch)
                fail(pp, "preprocessing yields " + std::to_string(w) + "x" + std::to_string(h) +
                             ", not a multiple of patch_size " + std::to_string(s.patch));
            s.image_h = h;
            s.image_w = w;
            check_dims(s, cfg_path, limits);
        }
    }
    return s;
}

void set_input_size(ModelSpec& s, int h, int w, const SpecLimits& lim) {
    if (h < s.patch || w < s.patch || h > lim.max_image || w > lim.max_image || h % s.patch || w % s.patch)
        throw ArgumentError("input size " + std::to_string(h) + "x" + std::to_string(w) + " for " +
                            (s.dir.empty() ? s.architecture : s.dir) +
                            ": each side must be a multiple of the patch size " + std::to_string(s.patch) + " in [" +
                            std::to_string(s.patch) + ", " + std::to_string(lim.max_image) + "]");
    const int64_t tokens = int64_t(h / s.patch) * (w / s.patch) + s.n_prefix;
    if (tokens > lim.max_tokens)
        throw ArgumentError("input size " + std::to_string(h) + "x" + std::to_string(w) + " gives " +
                            std::to_string(tokens) + " tokens, over the limit " + std::to_string(lim.max_tokens));
    Preprocess& p = s.pre;
    if (s.naming == Naming::Timm) {
        timm_resize(p, h, w);
    } else {
        const double sh = double(h) / (p.center_crop ? p.crop_h : s.image_h);
        const double sw = double(w) / (p.center_crop ? p.crop_w : s.image_w);
        if (p.resize == Preprocess::Resize::ShortestEdge) {  // the larger ratio: the crop never needs padding
            p.edge = static_cast<int>(std::lround(p.edge * std::max(sh, sw)));
        } else if (p.resize == Preprocess::Resize::Exact) {
            p.resize_h = p.center_crop ? static_cast<int>(std::lround(p.resize_h * sh)) : h;
            p.resize_w = p.center_crop ? static_cast<int>(std::lround(p.resize_w * sw)) : w;
        }
    }
    p.crop_h = h;
    p.crop_w = w;
    s.image_h = h;
    s.image_w = w;
}

}  // namespace vitlens
