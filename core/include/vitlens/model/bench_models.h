// Models for benchmarks: standard ViT shapes with random weights, so speed
// can be measured without a checkpoint on disk.
#pragma once

#include <cstdint>
#include <string>

#include "vitlens/model/checkpoint.h"

namespace vitlens {

// Standard ViT shapes at 224x224, patch 16, 1000 classes:
// "vit_tiny" (192 wide, 3 heads), "vit_small" (384, 6), "vit_base" (768, 12).
// Throws ArgumentError for other names.
ModelSpec spec_for_arch(const std::string& arch);

// Random weights of the right shapes (normal, std 0.02; LayerNorm weight 1).
EncoderWeights random_encoder_weights(const ModelSpec& spec, uint64_t seed = 0);

}  // namespace vitlens
