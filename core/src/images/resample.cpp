#include "vitlens/images/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace vitlens {

// Pillow-compatible resampling (Resample.c): coefficients per output pixel over
// a support widened by the scale when downscaling, fixed point with 22 bits.

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double filter_value(Interp f, double x) {
    switch (f) {
        case Interp::Box: return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
        case Interp::Bilinear: x = std::fabs(x); return x < 1.0 ? 1.0 - x : 0.0;
        case Interp::Hamming:
            x = std::fabs(x);
            if (x == 0.0) return 1.0;
            if (x >= 1.0) return 0.0;
            x *= M_PI;
            return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
        case Interp::Bicubic: {
            const double a = -0.5;
            x = std::fabs(x);
            if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
            return 0.0;
        }
        case Interp::Lanczos: {
            auto sinc = [](double v) { if (v == 0.0) return 1.0; v *= M_PI; return std::sin(v) / v; };
            return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
        }
        default: return 0.0;
    }
}

double filter_support(Interp f) {
    switch (f) {
        case Interp::Box: return 0.5;
        case Interp::Bilinear: case Interp::Hamming: return 1.0;
        case Interp::Bicubic: return 2.0;
        case Interp::Lanczos: return 3.0;
        default: return 0.0;
    }
}

struct Coeffs {
    int ksize = 0;
    std::vector<int> bounds;  // per output: xmin, count
    std::vector<int> k;       // out_size * ksize fixed-point weights
};

Coeffs precompute(int in_size, int out_size, Interp f) {
    double scale = double(in_size) / out_size;
    double filterscale = std::max(scale, 1.0);
    double support = filter_support(f) * filterscale;
    Coeffs c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.bounds.resize(2 * out_size);
    c.k.assign(size_t(out_size) * c.ksize, 0);
    std::vector<double> pre(c.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        double center = (xx + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            double w = filter_value(f, (x + xmin - center + 0.5) * ss);
            pre[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; ++x) {
            double v = ww != 0.0 ? pre[x] / ww : pre[x];
            c.k[size_t(xx) * c.ksize + x] = v < 0 ? int(-0.5 + v * (1 << kPrecisionBits)) : int(0.5 + v * (1 << kPrecisionBits));
        }
        c.bounds[2 * xx] = xmin;
        c.bounds[2 * xx + 1] = xmax;
    }
    return c;
}

inline uint8_t clip8(int64_t v) {
    v >>= kPrecisionBits;
    return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

cv::Mat resample_h(const cv::Mat& in, int out_w, Interp f) {
    Coeffs c = precompute(in.cols, out_w, f);
    const int ch = in.channels();
    cv::Mat out(in.rows, out_w, in.type());
    for (int y = 0; y < in.rows; ++y) {
        const uint8_t* src = in.ptr<uint8_t>(y);
        uint8_t* dst = out.ptr<uint8_t>(y);
        for (int xx = 0; xx < out_w; ++xx) {
            const int xmin = c.bounds[2 * xx], n = c.bounds[2 * xx + 1];
            const int* k = &c.k[size_t(xx) * c.ksize];
            for (int b = 0; b < ch; ++b) {
                int64_t ss = 1 << (kPrecisionBits - 1);
                for (int x = 0; x < n; ++x) ss += int64_t(src[(x + xmin) * ch + b]) * k[x];
                dst[xx * ch + b] = clip8(ss);
            }
        }
    }
    return out;
}

cv::Mat resample_v(const cv::Mat& in, int out_h, Interp f) {
    Coeffs c = precompute(in.rows, out_h, f);
    const int row = in.cols * in.channels();
    cv::Mat out(out_h, in.cols, in.type());
    for (int yy = 0; yy < out_h; ++yy) {
        const int ymin = c.bounds[2 * yy], n = c.bounds[2 * yy + 1];
        const int* k = &c.k[size_t(yy) * c.ksize];
        uint8_t* dst = out.ptr<uint8_t>(yy);
        for (int i = 0; i < row; ++i) {
            int64_t ss = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < n; ++y) ss += int64_t(in.ptr<uint8_t>(y + ymin)[i]) * k[y];
            dst[i] = clip8(ss);
        }
    }
    return out;
}

cv::Mat resize_nearest(const cv::Mat& in, int out_w, int out_h) {
    cv::Mat out(out_h, out_w, in.type());
    const int ch = in.channels();
    double sx = double(in.cols) / out_w, sy = double(in.rows) / out_h;
    for (int y = 0; y < out_h; ++y) {
        int yi = std::min(in.rows - 1, int((y + 0.5) * sy));
        for (int x = 0; x < out_w; ++x) {
            int xi = std::min(in.cols - 1, int((x + 0.5) * sx));
            std::memcpy(out.ptr<uint8_t>(y) + x * ch, in.ptr<uint8_t>(yi) + xi * ch, ch);
        }
    }
    return out;
}


}  // namespace

cv::Mat resize_pil(const cv::Mat& img, int out_w, int out_h, Interp interp) {
    CV_Assert(img.depth() == CV_8U && out_w > 0 && out_h > 0);
    if (img.cols == out_w && img.rows == out_h) return img.clone();
    if (interp == Interp::Nearest) return resize_nearest(img, out_w, out_h);
    cv::Mat m = img.isContinuous() ? img : img.clone();
    if (m.cols != out_w) m = resample_h(m, out_w, interp);
    if (m.rows != out_h) m = resample_v(m, out_h, interp);
    return m;
}

}  // namespace vitlens
