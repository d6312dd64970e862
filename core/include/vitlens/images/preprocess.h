// The image pipeline after decoding: resize (Pillow-exact, resample.h),
// center crop or pad, scale, normalise, patchify. Never touches oneDNN.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

#include "vitlens/images/image_io.h"
#include "vitlens/model/model_config.h"
#include "vitlens/images/resample.h"
#include "vitlens/model/tensor.h"

namespace vitlens {

// Where the model input came from in the original image: the image was
// resized from (orig_w, orig_h) to (resized_w, resized_h), then the crop box
// (crop_x, crop_y, crop_w, crop_h), in resized pixels, became the input. A
// negative crop_x/crop_y means the crop padded the image.
struct Geometry {
    int orig_w = 0, orig_h = 0;
    int resized_w = 0, resized_h = 0;
    int crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;

    // The crop box in original-image pixels (floating point).
    cv::Rect2d crop_in_original() const;
};

// Resize + crop per `p`, giving an 8-bit RGB image of the model's input size.
cv::Mat resize_and_crop(const cv::Mat& rgb8, const Preprocess& p, Geometry* geo);

// Writes the patch matrix for one image: out is (N, C*P*P), N = (H/P)*(W/P),
// rows in raster order of the patch grid, each row channel-major
// (c*P*P + y*P + x), values (v * rescale - mean[c]) / std[c].
// rgb8 is CV_8UC3 of exactly (spec.image_h, spec.image_w).
void patchify(const cv::Mat& rgb8, const ModelSpec& spec, float* out);

// All of the above for one decoded image: returns (N, C*P*P).
Tensor prepare_image(const cv::Mat& rgb8, const ModelSpec& spec, Geometry* geo);

}  // namespace vitlens
