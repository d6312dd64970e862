#include "vitlens/preprocess.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "vitlens/errors.h"

namespace vitlens {

cv::Rect2d Geometry::crop_in_original() const {
    double sx = resized_w > 0 ? double(orig_w) / resized_w : 1.0;
    double sy = resized_h > 0 ? double(orig_h) / resized_h : 1.0;
    return {crop_x * sx, crop_y * sy, crop_w * sx, crop_h * sy};
}

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint16_t be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw InputError(path + ": cannot open (missing or unreadable)");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw InputError(path + ": read error");
    return bytes;
}

}  // namespace

bool peek_image_size(const std::vector<uint8_t>& b, int64_t* w, int64_t* h) {
    const size_t n = b.size();
    const uint8_t* p = b.data();
    if (n >= 24 && p[0] == 0x89 && p[1] == 'P' && p[2] == 'N' && p[3] == 'G') {
        *w = be32(p + 16);
        *h = be32(p + 20);
        return true;
    }
    if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
        *w = std::abs(int64_t(int32_t(le32(p + 18))));  // negative height = top-down rows
        *h = std::abs(int64_t(int32_t(le32(p + 22))));
        return true;
    }
    if (n >= 10 && p[0] == 'G' && p[1] == 'I' && p[2] == 'F') {
        *w = le16(p + 6);
        *h = le16(p + 8);
        return true;
    }
    if (n >= 30 && std::equal(p, p + 4, "RIFF") && std::equal(p + 8, p + 12, "WEBP")) {
        if (std::equal(p + 12, p + 16, "VP8X")) {
            *w = 1 + (p[24] | (p[25] << 8) | (p[26] << 16));
            *h = 1 + (p[27] | (p[28] << 8) | (p[29] << 16));
            return true;
        }
        if (std::equal(p + 12, p + 16, "VP8 ")) {
            *w = le16(p + 26) & 0x3fff;
            *h = le16(p + 28) & 0x3fff;
            return true;
        }
        if (std::equal(p + 12, p + 16, "VP8L") && n >= 25) {
            uint32_t v = le32(p + 21);
            *w = 1 + (v & 0x3fff);
            *h = 1 + ((v >> 14) & 0x3fff);
            return true;
        }
        return false;
    }
    if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') {  // PNM: ASCII width and height after the magic
        size_t i = 2;
        int64_t dims[2] = {0, 0};
        for (int64_t& d : dims) {
            for (;;) {  // whitespace and '#' comments up to the end of their line
                while (i < n && std::isspace(p[i])) ++i;
                if (i < n && p[i] == '#') {
                    while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
                    continue;
                }
                break;
            }
            if (i >= n || !std::isdigit(p[i])) return false;
            for (; i < n && std::isdigit(p[i]); ++i)  // saturate at 2^32, as large as the other formats can claim
                d = std::min<int64_t>(d * 10 + (p[i] - '0'), int64_t(1) << 32);
        }
        *w = dims[0];
        *h = dims[1];
        return true;
    }
    if (n >= 8 && ((p[0] == 'I' && p[1] == 'I') || (p[0] == 'M' && p[1] == 'M'))) {  // TIFF: tags 256, 257 of IFD 0
        const bool le = p[0] == 'I';
        auto u16 = [&](size_t at) -> uint32_t { return le ? le16(p + at) : be16(p + at); };
        auto u32 = [&](size_t at) -> uint32_t { return le ? le32(p + at) : be32(p + at); };
        if (u16(2) != 42) return false;
        const size_t ifd = u32(4);
        if (ifd > n || n - ifd < 2) return false;
        const size_t count = u16(ifd);
        int64_t tw = -1, th = -1;
        for (size_t k = 0; k < count; ++k) {
            const size_t e = ifd + 2 + 12 * k;
            if (e > n || n - e < 12) break;
            const uint32_t tag = u16(e), type = u16(e + 2);
            if (tag != 256 && tag != 257) continue;
            int64_t v = type == 3 ? int64_t(u16(e + 8)) : type == 4 ? int64_t(u32(e + 8)) : -1;
            int64_t& d = tag == 256 ? tw : th;
            d = std::max(d, v);  // a repeated tag counts with its largest value
        }
        if (tw < 0 || th < 0) return false;
        *w = tw;
        *h = th;
        return true;
    }
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) {  // JPEG: walk the markers to a SOF
        size_t i = 2;
        while (i + 9 < n) {
            if (p[i] != 0xFF) { ++i; continue; }
            uint8_t m = p[i + 1];
            if (m == 0xFF) { ++i; continue; }
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
            uint16_t len = be16(p + i + 2);
            bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
            if (sof) {
                *h = be16(p + i + 5);
                *w = be16(p + i + 7);
                return true;
            }
            if (len < 2) return false;
            i += 2 + len;
        }
    }
    return false;
}

cv::Mat to_rgb8(const cv::Mat& in) {
    cv::Mat m = in;
    if (m.depth() == CV_16U) m.convertTo(m, CV_8U, 1.0 / 257.0);
    else if (m.depth() == CV_32F) m.convertTo(m, CV_8U, 255.0);
    else if (m.depth() != CV_8U) m.convertTo(m, CV_8U);
    cv::Mat out;
    switch (m.channels()) {
        case 1: cv::cvtColor(m, out, cv::COLOR_GRAY2RGB); break;
        case 3: cv::cvtColor(m, out, cv::COLOR_BGR2RGB); break;
        case 4: cv::cvtColor(m, out, cv::COLOR_BGRA2RGB); break;
        default: throw InputError("unsupported channel count " + std::to_string(m.channels()));
    }
    return out;
}

namespace {

// Only these formats reach OpenCV's decoders, and only with the exact
// signature their own decoder claims. imdecode otherwise offers the bytes to
// every decoder it was built with, in turn, and GDCM (the DICOM reader)
// aborts on an assert for malformed input: fuzz_image found two such files,
// one starting FF D8 00 (not quite JPEG), one with a JPEG 2000 codestream
// magic (OpenCV asks GDCM before its JPEG 2000 decoder).
bool known_image_format(const std::vector<uint8_t>& b) {
    auto starts = [&](std::initializer_list<uint8_t> sig, size_t at = 0) {
        if (b.size() < at + sig.size()) return false;
        return std::equal(sig.begin(), sig.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    };
    bool pnm = b.size() > 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2]);
    return starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}) || starts({0xFF, 0xD8, 0xFF}) || starts({'B', 'M'}) ||
           (starts({'R', 'I', 'F', 'F'}) && starts({'W', 'E', 'B', 'P'}, 8)) || starts({'I', 'I', 0x2A, 0x00}) ||
           starts({'M', 'M', 0x00, 0x2A}) || pnm;
}

}  // namespace

cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& opt) {
    if (bytes.empty()) throw InputError(name + ": empty file (0 bytes)");
    if (!known_image_format(bytes))
        throw InputError(name + ": not a decodable image (unrecognised format; PNG, JPEG, BMP, WebP, TIFF and PNM "
                                "are read)");
    // Decoders allocate the whole image as soon as they have read its header,
    // so the size is checked here first; a file whose size cannot be read never
    // reaches a decoder (fuzz_image found a PPM header claiming 30000x30000).
    int64_t w = 0, h = 0;
    if (!peek_image_size(bytes, &w, &h))
        throw InputError(name + ": not a decodable image (no image size in its " + std::to_string(bytes.size()) +
                         "-byte header)");
    if (w <= 0 || h <= 0) throw InputError(name + ": header claims an empty image (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    // w and h are at most 2^32 each: compare without forming an overflowing product.
    if (w > opt.max_pixels / h)
        throw InputError(name + ": image claims " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                         std::to_string(static_cast<unsigned long long>(w) * static_cast<unsigned long long>(h)) +
                         " pixels, over the limit of " + std::to_string(opt.max_pixels) + " (--max-pixels)");
    cv::Mat raw;
    try {
        // IMREAD_COLOR: 8-bit BGR, EXIF orientation applied, gray/alpha/16-bit/CMYK converted.
        raw = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data())),
                           cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
        throw InputError(name + ": cannot decode image (" + e.msg + ")");
    }
    if (raw.empty()) throw InputError(name + ": not a decodable image (" + std::to_string(bytes.size()) + " bytes)");
    if (int64_t(raw.cols) * raw.rows > opt.max_pixels)
        throw InputError(name + ": image is " + std::to_string(raw.cols) + "x" + std::to_string(raw.rows) +
                         " pixels, over the limit of " + std::to_string(opt.max_pixels));
    cv::Mat rgb;
    cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

cv::Mat decode_image(const std::string& path, const DecodeOptions& opt) {
    return decode_image_bytes(read_all(path), path, opt);
}

// ---------------------------------------------------------------------------
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

// Python's round() on x.5 values: half to even.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

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
