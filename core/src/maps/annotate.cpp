#include "vitlens/maps/annotate.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace vitlens {

cv::Mat annotate_frame(const cv::Mat& rgb, const Prediction& p, const AttentionMap* map, const Geometry& g,
                       const OverlayStyle& style, double fps) {
    cv::Mat out = map && !map->values.empty() ? render_overlay(rgb, *map, g, style) : rgb.clone();
    const double scale = std::max(0.4, std::min(out.cols, out.rows) / 800.0);
    const int line = static_cast<int>(22 * scale / 0.5 * 0.5) + 6;
    int n = static_cast<int>(p.top.size()) + 1;
    cv::Mat box = out(cv::Rect(0, 0, std::min(out.cols, static_cast<int>(300 * scale / 0.5 * 0.6)), std::min(out.rows, n * line + 8)));
    box *= 0.45;
    for (size_t i = 0; i < p.top.size(); ++i) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "%5.1f%% %s", 100.0 * p.top[i].prob, p.top[i].label.c_str());
        cv::putText(out, buf, {6, line * static_cast<int>(i + 1)}, cv::FONT_HERSHEY_SIMPLEX, scale,
                    i == 0 ? cv::Scalar(255, 255, 120) : cv::Scalar(235, 235, 235), 1, cv::LINE_AA);
    }
    char f[64];
    std::snprintf(f, sizeof f, "%.1f FPS", fps);
    cv::putText(out, f, {6, line * n}, cv::FONT_HERSHEY_SIMPLEX, scale * 0.9, cv::Scalar(160, 255, 160), 1, cv::LINE_AA);
    return out;
}

}  // namespace vitlens
