#include "vitlens/maps/feature_pca.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "vitlens/errors.h"
#include "vitlens/maps/map_render.h"

namespace vitlens {

std::array<AttentionMap, 3> feature_pca(const float* tokens, int64_t T, int64_t D, const TokenLayout& lay) {
    const int64_t N = int64_t(lay.grid_h) * lay.grid_w;
    if (T != lay.n_prefix + N || D < 3 || N < 4)
        throw ArgumentError("feature_pca: " + std::to_string(T) + " tokens of width " + std::to_string(D) +
                            " do not fit a " + std::to_string(lay.grid_h) + "x" + std::to_string(lay.grid_w) +
                            " grid with " + std::to_string(lay.n_prefix) + " prefix tokens (need >= 4 patches, D >= 3)");
    const cv::Mat patches(int(N), int(D), CV_32F, const_cast<float*>(tokens + lay.n_prefix * D));
    const cv::PCA pca(patches, cv::Mat(), cv::PCA::DATA_AS_ROW, 3);
    cv::Mat proj = pca.project(patches);  // (N, k), k = 3 unless the data has fewer directions
    std::array<AttentionMap, 3> out;
    for (int c = 0; c < 3; ++c) {
        AttentionMap& m = out[size_t(c)];
        m.rows = lay.grid_h;
        m.cols = lay.grid_w;
        m.values.assign(size_t(N), 0.f);
        if (c >= proj.cols) continue;
        std::vector<float> v(static_cast<size_t>(N));
        float big = 0;
        for (int64_t i = 0; i < N; ++i) {
            v[size_t(i)] = proj.at<float>(int(i), c);
            if (std::fabs(v[size_t(i)]) > std::fabs(big)) big = v[size_t(i)];
        }
        if (big < 0)
            for (float& x : v) x = -x;
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        const float span = *hi - *lo;
        for (int64_t i = 0; i < N; ++i) m.values[size_t(i)] = span > 0 ? (v[size_t(i)] - *lo) / span : 0.f;
    }
    return out;
}

cv::Mat pca_rgba(const std::array<AttentionMap, 3>& c, const Geometry& g) {
    std::vector<cv::Mat> ch(4);
    cv::Mat mask;
    for (int i = 0; i < 3; ++i) map_to_original(c[size_t(i)], g, i == 0 ? &mask : nullptr).convertTo(ch[size_t(i)], CV_8U, 255.0);
    ch[3] = mask;
    cv::Mat rgba;
    cv::merge(ch, rgba);
    return rgba;
}

}  // namespace vitlens
