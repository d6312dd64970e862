// Preprocessing -> the spec's Preprocess: preprocessor_config.json (HF) and
// its defaults, and timm's eval transform from pretrained_cfg.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "config_dialects.h"
#include "config_json.h"
#include "vitlens/model/model_config.h"

namespace vitlens {

namespace detail {

namespace {

Interp parse_interp(const std::string& interp, const std::string& file) {
    if (interp == "bicubic") return Interp::Bicubic;
    if (interp == "bilinear") return Interp::Bilinear;
    if (interp == "nearest") return Interp::Nearest;
    if (interp == "lanczos") return Interp::Lanczos;
    if (interp == "box") return Interp::Box;
    if (interp == "hamming") return Interp::Hamming;
    fail(file, "pretrained_cfg.interpolation '" + interp + "' is not supported");
}

}  // namespace

void hf_default_preprocess(ModelSpec& s) {
    s.pre.resize = Preprocess::Resize::Exact;
    s.pre.resize_h = s.image_h;
    s.pre.resize_w = s.image_w;
    s.pre.interp = Interp::Bilinear;
    s.pre.source = "defaults (no preprocessor_config.json)";
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

}  // namespace detail

using detail::fail;
using detail::get_bool;
using detail::get_float;
using detail::get_int;
using detail::get_triple;
using detail::json;
using detail::parse_json;

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

}  // namespace vitlens
