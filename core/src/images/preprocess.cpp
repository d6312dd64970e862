#include "vitlens/images/preprocess.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "vitlens/errors.h"

namespace vitlens {

cv::Rect2d Geometry::crop_in_original() const {
    double sx = resized_w > 0 ? double(orig_w) / resized_w : 1.0;
    double sy = resized_h > 0 ? double(orig_h) / resized_h : 1.0;
    return {crop_x * sx, crop_y * sy, crop_w * sx, crop_h * sy};
}

namespace {

// Python's round() on x.5 values: half to even.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

}  // namespace

cv::Mat resize_and_crop(const cv::Mat& rgb8, const Preprocess& p, Geometry* geo) {
    Geometry g;
    g.orig_w = rgb8.cols;
    g.orig_h = rgb8.rows;
    int w = rgb8.cols, h = rgb8.rows;
    switch (p.resize) {
        case Preprocess::Resize::None: break;
        case Preprocess::Resize::Exact: w = p.resize_w; h = p.resize_h; break;
        case Preprocess::Resize::ShortestEdge:
            if (w <= h) { h = static_cast<int>(double(p.edge) * h / w); w = p.edge; }
            else { w = static_cast<int>(double(p.edge) * w / h); h = p.edge; }
            break;
        case Preprocess::Resize::LongestEdge: {  // timm ResizeKeepRatio(longest=1): Python's round
            const double ratio = std::max(double(h) / p.resize_h, double(w) / p.resize_w);
            w = std::max(1, round_half_even(w / ratio));
            h = std::max(1, round_half_even(h / ratio));
            break;
        }
    }
    w = std::max(w, 1);
    h = std::max(h, 1);
    cv::Mat resized = resize_pil(rgb8, w, h, p.interp);
    g.resized_w = w;
    g.resized_h = h;
    cv::Mat out = resized;
    if (p.center_crop) {
        // Pad when the crop is larger than the image: zeros, as HF and torchvision do, or the
        // mean colour for timm's crop_mode=border.
        int pad_l = 0, pad_t = 0;
        if (p.crop_w > w || p.crop_h > h) {
            pad_l = std::max(0, (p.crop_w - w) / 2);
            pad_t = std::max(0, (p.crop_h - h) / 2);
            int pad_r = std::max(0, p.crop_w - w - pad_l), pad_b = std::max(0, p.crop_h - h - pad_t);
            cv::Scalar fill = cv::Scalar::all(0);
            if (p.pad_to_crop) fill = cv::Scalar(p.pad_fill[0], p.pad_fill[1], p.pad_fill[2]);
            cv::copyMakeBorder(resized, out, pad_t, pad_b, pad_l, pad_r, cv::BORDER_CONSTANT, fill);
        }
        int dx = out.cols - p.crop_w, dy = out.rows - p.crop_h;
        int left = p.crop_round_half_even ? round_half_even(dx / 2.0) : dx / 2;
        int top = p.crop_round_half_even ? round_half_even(dy / 2.0) : dy / 2;
        out = out(cv::Rect(left, top, p.crop_w, p.crop_h)).clone();
        g.crop_x = left - pad_l;
        g.crop_y = top - pad_t;
        g.crop_w = p.crop_w;
        g.crop_h = p.crop_h;
    } else {
        g.crop_w = w;
        g.crop_h = h;
    }
    if (geo) *geo = g;
    return out;
}

void patchify(const cv::Mat& rgb8, const ModelSpec& spec, float* out) {
    CV_Assert(rgb8.type() == CV_8UC3 && rgb8.rows == spec.image_h && rgb8.cols == spec.image_w);
    const Preprocess& p = spec.pre;
    const int P = spec.patch, gh = spec.grid_h(), gw = spec.grid_w(), row = 3 * P * P;
    // Scale and normalise per channel: planes[c] = (v * rescale - mean) / std.
    std::vector<cv::Mat> planes;
    cv::split(rgb8, planes);
    for (int c = 0; c < 3; ++c)
        planes[c].convertTo(planes[c], CV_32F, p.rescale / p.std[c], -p.mean[c] / p.std[c]);
    for (int gy = 0; gy < gh; ++gy)
        for (int gx = 0; gx < gw; ++gx) {
            float* dst = out + int64_t(gy * gw + gx) * row;
            for (int c = 0; c < 3; ++c) {
                cv::Mat tile(P, P, CV_32F, dst + c * P * P);
                planes[c](cv::Rect(gx * P, gy * P, P, P)).copyTo(tile);
            }
        }
}

Tensor prepare_image(const cv::Mat& rgb8, const ModelSpec& spec, Geometry* geo) {
    cv::Mat in = resize_and_crop(rgb8, spec.pre, geo);
    if (in.rows != spec.image_h || in.cols != spec.image_w)
        throw ModelError(spec.dir + ": preprocessing gives " + std::to_string(in.cols) + "x" + std::to_string(in.rows) +
                         ", model expects " + std::to_string(spec.image_w) + "x" + std::to_string(spec.image_h));
    Tensor t({spec.patches(), spec.patch_dim()});
    patchify(in, spec, t.data());
    return t;
}

}  // namespace vitlens
