#include "vitlens/maps/map_render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "vitlens/errors.h"

namespace vitlens {

Colormap parse_colormap(const std::string& s) {
    if (s == "turbo") return Colormap::Turbo;
    if (s == "jet") return Colormap::Jet;
    if (s == "inferno") return Colormap::Inferno;
    if (s == "viridis") return Colormap::Viridis;
    throw ArgumentError("colour map must be turbo, jet, inferno or viridis, got '" + s + "'");
}

const char* colormap_name(Colormap c) {
    switch (c) {
        case Colormap::Turbo: return "turbo";
        case Colormap::Jet: return "jet";
        case Colormap::Inferno: return "inferno";
        case Colormap::Viridis: return "viridis";
    }
    return "?";
}

cv::Mat map_to_original(const AttentionMap& m, const Geometry& g, cv::Mat* mask) {
    cv::Mat out(g.orig_h, g.orig_w, CV_32F, cv::Scalar(0));
    cv::Mat msk(g.orig_h, g.orig_w, CV_8U, cv::Scalar(0));
    cv::Rect2d box = g.crop_in_original();
    int bw = std::max(1, int(std::lround(box.width))), bh = std::max(1, int(std::lround(box.height)));
    int bx = int(std::lround(box.x)), by = int(std::lround(box.y));
    cv::Mat grid(m.rows, m.cols, CV_32F, const_cast<float*>(m.values.data()));
    cv::Mat up;
    cv::resize(grid, up, cv::Size(bw, bh), 0, 0, cv::INTER_CUBIC);
    cv::min(cv::max(up, 0.0), 1.0, up);  // bicubic overshoots
    cv::Rect dst = cv::Rect(bx, by, bw, bh) & cv::Rect(0, 0, g.orig_w, g.orig_h);
    if (dst.area() > 0) {
        cv::Rect src(dst.x - bx, dst.y - by, dst.width, dst.height);
        up(src).copyTo(out(dst));
        msk(dst).setTo(255);
    }
    if (mask) *mask = msk;
    return out;
}

cv::Mat colorize(const cv::Mat& m01, Colormap c) {
    cv::Mat u8, bgr, rgb;
    m01.convertTo(u8, CV_8U, 255.0);
    int cm = cv::COLORMAP_TURBO;
    if (c == Colormap::Jet) cm = cv::COLORMAP_JET;
    if (c == Colormap::Inferno) cm = cv::COLORMAP_INFERNO;
    if (c == Colormap::Viridis) cm = cv::COLORMAP_VIRIDIS;
    cv::applyColorMap(u8, bgr, cm);
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

namespace {

// The colour map as a table: 256 RGB entries, made once per map (OpenCV's own colours).
const std::array<cv::Vec3b, 256>& colour_table(Colormap c) {
    static const auto tables = [] {
        std::array<std::array<cv::Vec3b, 256>, 4> t{};
        cv::Mat ramp(1, 256, CV_32F);  // colorize() takes [0, 1]
        for (int i = 0; i < 256; ++i) ramp.at<float>(i) = float(i) / 255.f;
        const Colormap all[4] = {Colormap::Turbo, Colormap::Jet, Colormap::Inferno, Colormap::Viridis};
        for (int k = 0; k < 4; ++k) {
            const cv::Mat rgb = colorize(ramp, all[k]);
            for (int i = 0; i < 256; ++i) t[size_t(k)][size_t(i)] = rgb.at<cv::Vec3b>(i);
        }
        return t;
    }();
    return tables[size_t(c == Colormap::Jet ? 1 : c == Colormap::Inferno ? 2 : c == Colormap::Viridis ? 3 : 0)];
}

}  // namespace

namespace {

// Where the model's crop lies in the frame: the box the maps are stretched
// over, and its part inside the frame.
struct CropBox {
    int x, y, w, h;
    cv::Rect inside;
};

CropBox crop_box(const Geometry& g) {
    const cv::Rect2d b = g.crop_in_original();
    CropBox c{int(std::lround(b.x)), int(std::lround(b.y)), std::max(1, int(std::lround(b.width))),
              std::max(1, int(std::lround(b.height))), {}};
    c.inside = cv::Rect(c.x, c.y, c.w, c.h) & cv::Rect(0, 0, g.orig_w, g.orig_h);
    return c;
}

// The map stretched over the box in 8 bits (bicubic, overshoot saturated),
// into `up8`; `up` is scratch. Live frames come here every frame: callers
// pass buffers they keep, so a steady frame size allocates nothing.
void upsample8(const AttentionMap& m, const CropBox& b, cv::Mat& up, cv::Mat& up8) {
    const cv::Mat grid(m.rows, m.cols, CV_32F, const_cast<float*>(m.values.data()));
    cv::resize(grid, up, cv::Size(b.w, b.h), 0, 0, cv::INTER_CUBIC);
    up.convertTo(up8, CV_8U, 255.0);
}

// px = px * (1 - a) + colour * a over the box, in 8.8 fixed point;
// colour(x, y) gives the RGB of a box pixel.
template <class Colour>
void blend_box(cv::Mat& out, const CropBox& b, float alpha, Colour colour) {
    const int a = int(std::lround(std::clamp(alpha, 0.f, 1.f) * 256.f)), keep = 256 - a;
    for (int y = b.inside.y; y < b.inside.y + b.inside.height; ++y) {
        auto* px = out.ptr<cv::Vec3b>(y);
        for (int x = b.inside.x; x < b.inside.x + b.inside.width; ++x) {
            const cv::Vec3b c = colour(x - b.x, y - b.y);
            for (int k = 0; k < 3; ++k) px[x][k] = uchar((px[x][k] * keep + c[k] * a + 128) >> 8);
        }
    }
}

void draw_crop_box(cv::Mat& out, const Geometry& g, const CropBox& b, const OverlayStyle& style) {
    const bool cropped = g.crop_w != g.resized_w || g.crop_h != g.resized_h || g.crop_x != 0 || g.crop_y != 0;
    if (!style.draw_crop_box || !cropped) return;
    const int t = std::max(1, std::min(g.orig_w, g.orig_h) / 200);
    cv::rectangle(out, cv::Rect(b.x, b.y, b.w, b.h), cv::Scalar(255, 255, 255), t);
}

}  // namespace

cv::Mat render_overlay(const cv::Mat& rgb, const AttentionMap& m, const Geometry& g, const OverlayStyle& style) {
    CV_Assert(rgb.type() == CV_8UC3 && rgb.cols == g.orig_w && rgb.rows == g.orig_h);
    cv::Mat out = rgb.clone();
    const CropBox b = crop_box(g);
    if (b.inside.area() > 0 && !m.values.empty()) {
        thread_local cv::Mat up, up8;
        upsample8(m, b, up, up8);
        const auto& lut = colour_table(style.colormap);
        blend_box(out, b, style.alpha, [&](int x, int y) { return lut[up8.at<uchar>(y, x)]; });
    }
    draw_crop_box(out, g, b, style);
    return out;
}

cv::Mat render_rgb_overlay(const cv::Mat& rgb, const std::array<AttentionMap, 3>& c, const Geometry& g,
                           const OverlayStyle& style) {
    CV_Assert(rgb.type() == CV_8UC3 && rgb.cols == g.orig_w && rgb.rows == g.orig_h);
    cv::Mat out = rgb.clone();
    const CropBox b = crop_box(g);
    if (b.inside.area() > 0 && !c[0].values.empty()) {
        thread_local cv::Mat up, ch[3];
        for (int k = 0; k < 3; ++k) upsample8(c[size_t(k)], b, up, ch[k]);
        blend_box(out, b, style.alpha,
                  [&](int x, int y) { return cv::Vec3b(ch[0].at<uchar>(y, x), ch[1].at<uchar>(y, x), ch[2].at<uchar>(y, x)); });
    }
    draw_crop_box(out, g, b, style);
    return out;
}

cv::Mat render_tiles(const cv::Mat& rgb, const std::vector<AttentionMap>& maps, const std::vector<std::string>& labels,
                     const Geometry& g, int cols, int tile, const OverlayStyle& style) {
    cols = std::max(1, cols);
    int rows = (static_cast<int>(maps.size()) + cols - 1) / cols;
    const int pad = 4, label_h = 18;
    cv::Mat canvas(rows * (tile + label_h + pad) + pad, cols * (tile + pad) + pad, CV_8UC3, cv::Scalar(32, 32, 32));
    Geometry gs = g;
    const cv::Mat small = thumbnail(rgb, tile, gs);
    for (size_t i = 0; i < maps.size(); ++i) {
        int r = static_cast<int>(i) / cols, c = static_cast<int>(i) % cols;
        cv::Mat ov = render_overlay(small, maps[i], gs, style);
        int x = pad + c * (tile + pad), y = pad + r * (tile + label_h + pad);
        ov.copyTo(canvas(cv::Rect(x + (tile - ov.cols) / 2, y + label_h + (tile - ov.rows) / 2, ov.cols, ov.rows)));
        if (i < labels.size())
            cv::putText(canvas, labels[i], cv::Point(x + 2, y + label_h - 5), cv::FONT_HERSHEY_SIMPLEX, 0.45,
                        cv::Scalar(235, 235, 235), 1, cv::LINE_AA);
    }
    return canvas;
}


cv::Mat heat_rgba(const AttentionMap& m, const Geometry& g, Colormap c) {
    cv::Mat mask;
    cv::Mat rgb = colorize(map_to_original(m, g, &mask), c);
    std::vector<cv::Mat> ch;
    cv::split(rgb, ch);
    ch.push_back(mask);
    cv::Mat rgba;
    cv::merge(ch, rgba);
    return rgba;
}

cv::Mat thumbnail(const cv::Mat& rgb, int longest, Geometry& g) {
    const double s = double(longest) / std::max(rgb.cols, rgb.rows);
    cv::Mat small;
    cv::resize(rgb, small, cv::Size(std::max(1, int(rgb.cols * s)), std::max(1, int(rgb.rows * s))), 0, 0,
               cv::INTER_AREA);
    // The crop scales with the image: crop_in_original() uses orig / resized.
    g.orig_w = small.cols;
    g.orig_h = small.rows;
    return small;
}

std::vector<std::string> gallery_labels(int layers, int heads) {
    std::vector<std::string> out;
    for (int l = 0; l < layers; ++l)
        for (int h = 0; h < heads; ++h) out.push_back("L" + std::to_string(l) + " H" + std::to_string(h));
    return out;
}

}  // namespace vitlens
