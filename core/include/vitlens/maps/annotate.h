// Drawing a live frame: heatmap overlay, top-k labels and the FPS.
#pragma once

#include <opencv2/core.hpp>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/encoder/classifier.h"

namespace vitlens {

// rgb: (H, W) CV_8UC3 RGB frame; map: null or empty for no overlay.
// Returns a new (H, W) CV_8UC3 RGB image with the labels in the top left.
cv::Mat annotate_frame(const cv::Mat& rgb, const Prediction& p, const AttentionMap* map, const Geometry& g,
                       const OverlayStyle& style, double fps);

}  // namespace vitlens
