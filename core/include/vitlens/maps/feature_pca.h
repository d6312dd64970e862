// The patch features as colours: the first three principal components of
// one image's patch tokens, the view people use to inspect DINOv2 features
// (parts of one object share a colour).
#pragma once

#include <array>
#include <opencv2/core.hpp>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/images/preprocess.h"
#include "vitlens/model/tensor.h"

namespace vitlens {

// tokens: (T, D), one image's tokens after the final LayerNorm
// (Features::tokens[b]); the lay.n_prefix prefix tokens are left out. Each
// component's projection is scaled to [0, 1] over the grid, its sign fixed so
// that the largest |projection| is positive (PCA signs are arbitrary).
std::array<AttentionMap, 3> feature_pca(const float* tokens, int64_t T, int64_t D, const TokenLayout& lay);

// The three components as R, G, B at original-image size (resize and crop
// undone as for maps): CV_8UC4 RGBA, alpha 0 where the model did not look.
cv::Mat pca_rgba(const std::array<AttentionMap, 3>& components, const Geometry& g);

}  // namespace vitlens
