// Pillow-exact image resizing, so photos get the answers of the reference
// (Python) preprocessing pipelines.
#pragma once

#include <opencv2/core.hpp>

#include "vitlens/model/model_config.h"

namespace vitlens {

// PIL's Image.resize for 8-bit images (separable, antialiased when
// downscaling, fixed-point arithmetic as in Pillow's Resample.c).
// rgb8 is CV_8UC3 or CV_8UC1; the result has the same type.
cv::Mat resize_pil(const cv::Mat& img8, int out_w, int out_h, Interp interp);

}  // namespace vitlens
