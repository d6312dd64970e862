// ModelSpec and Preprocess arithmetic and descriptions, the head and class
// rules, the dispatch between config.json dialects, and the input size.
#include "vitlens/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config_dialects.h"
#include "config_json.h"
#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"
#include "vitlens/model/weights.h"

namespace vitlens {

using detail::fail;
using detail::json;
using detail::parse_json;

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

std::string read_file(const std::string& path) {
    if (const std::string why = not_a_regular_file(path); !why.empty() && why != "does not exist") fail(path, why);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ModelError(path + ": cannot open (missing or unreadable)");
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
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

}  // namespace

ModelSpec parse_model_config(const std::string& text, const std::string& file, const SafeTensors* weights,
                             const SpecLimits& lim) {
    json j = parse_json(text, file);
    ModelSpec s;
    if (j.contains("architectures")) {
        detail::fill_hf(s, j, file, weights, lim);
    } else if (j.contains("architecture")) {
        detail::fill_timm(s, j, file, weights, lim);
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
        detail::timm_resize(p, h, w);
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
