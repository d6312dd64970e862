// The per-dialect entry points behind parse_model_config and set_input_size:
// the Hugging Face and timm config.json readers and the preprocessing they
// imply. Private to core/src.
#pragma once

#include <string>

#include "config_json.h"
#include "vitlens/model/model_config.h"

namespace vitlens::detail {

// config_hf.cpp: a Hugging Face config.json (it has "architectures"): ViT,
// DeiT (with or without teacher), DINOv2; `weights` (may be null) gives the
// class count when the config has none.
void fill_hf(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights, const SpecLimits& lim);

// config_timm.cpp: a timm config.json (it has "architecture"): dims from the
// tensors, input size and preprocessing from pretrained_cfg. Fails when
// `weights` is null.
void fill_timm(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights, const SpecLimits& lim);

// preprocessor_config.cpp: ViTImageProcessor's defaults, used without a preprocessor_config.json.
void hf_default_preprocess(ModelSpec& s);

// preprocessor_config.cpp: timm's eval transform from pretrained_cfg: interpolation, crop_pct, crop_mode, mean, std.
void timm_preprocess(ModelSpec& s, const json& pc, const std::string& file);

// preprocessor_config.cpp: timm's resize and center crop for an input of h x w.
void timm_resize(Preprocess& p, int h, int w);

}  // namespace vitlens::detail
