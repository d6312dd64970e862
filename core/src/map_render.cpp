#include "vitlens/map_render.h"

#include <algorithm>
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

cv::Mat render_overlay(const cv::Mat& rgb, const AttentionMap& m, const Geometry& g, const OverlayStyle& style) {
    CV_Assert(rgb.type() == CV_8UC3 && rgb.cols == g.orig_w && rgb.rows == g.orig_h);
    cv::Mat mask;
    cv::Mat up = map_to_original(m, g, &mask);
    cv::Mat heat = colorize(up, style.colormap);
    float a = std::clamp(style.alpha, 0.f, 1.f);
    cv::Mat blended;
    cv::addWeighted(rgb, 1.0 - a, heat, a, 0.0, blended);
    cv::Mat out = rgb.clone();
    blended.copyTo(out, mask);
    bool cropped = g.crop_w != g.resized_w || g.crop_h != g.resized_h || g.crop_x != 0 || g.crop_y != 0;
    if (style.draw_crop_box && cropped) {
        cv::Rect2d b = g.crop_in_original();
        int t = std::max(1, std::min(g.orig_w, g.orig_h) / 200);
        cv::rectangle(out, cv::Rect(int(std::lround(b.x)), int(std::lround(b.y)), int(std::lround(b.width)),
                                    int(std::lround(b.height))),
                      cv::Scalar(255, 255, 255), t);
    }
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


cv::Mat blend_rgba(const cv::Mat& rgb, const cv::Mat& rgba, float alpha) {
    const float a = std::clamp(alpha, 0.f, 1.f);
    cv::Mat out = rgb.clone();
    for (int y = 0; y < out.rows; ++y) {
        auto* o = out.ptr<cv::Vec3b>(y);
        const auto* v = rgba.ptr<cv::Vec4b>(y);
        for (int x = 0; x < out.cols; ++x) {
            const float w = a * v[x][3] / 255.f;
            for (int c = 0; c < 3; ++c) o[x][c] = cv::saturate_cast<uchar>((1.f - w) * o[x][c] + w * v[x][c]);
        }
    }
    return out;
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
