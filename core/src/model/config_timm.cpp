// The timm config.json dialect: architecture and pretrained_cfg, with depth,
// width, patch and tokens read from the tensors -> ModelSpec.
#include <algorithm>
#include <cstdint>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "config_dialects.h"
#include "config_json.h"
#include "vitlens/model/tensor.h"
#include "vitlens/model/weights.h"

namespace vitlens::detail {

namespace {

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

}  // namespace

void fill_timm(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights, const SpecLimits& lim) {
    if (!j["architecture"].is_string()) fail(file, "'architecture' must be a string");
    s.architecture = j["architecture"].get<std::string>();
    s.naming = Naming::Timm;
    if (!weights) fail(file, "a timm config needs the weights to tell depth and width");
    static const std::regex vit_like("^(vit|deit|deit3)_.*");
    if (!std::regex_match(s.architecture, vit_like))
        fail(file, "timm architecture '" + s.architecture + "' is not a vision_transformer (vit_*, deit_*, deit3_*)");
    const SafeTensors& w = *weights;
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

}  // namespace vitlens::detail
