#include "vitlens/maps/rank_correlation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "vitlens/errors.h"

namespace vitlens {

std::vector<double> average_ranks(const std::vector<float>& v) {
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> rank(v.size());
    for (size_t i = 0; i < order.size();) {
        size_t j = i + 1;
        while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
        const double mean = 0.5 * double(i + j - 1) + 1.0;  // ranks i+1 .. j share their mean
        for (size_t k = i; k < j; ++k) rank[order[k]] = mean;
        i = j;
    }
    return rank;
}

namespace {

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    const double n = double(x.size());
    const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx == 0 && syy == 0) return 1.0;
    if (sxx == 0 || syy == 0) return 0.0;
    return sxy / std::sqrt(sxx * syy);
}

}  // namespace

double spearman(const AttentionMap& a, const AttentionMap& b) {
    if (a.rows != b.rows || a.cols != b.cols || a.values.size() != b.values.size() || a.values.empty())
        throw ArgumentError("spearman: the maps must share one non-empty grid, got " + std::to_string(a.rows) + "x" +
                            std::to_string(a.cols) + " and " + std::to_string(b.rows) + "x" + std::to_string(b.cols));
    auto finite = [](const std::vector<float>& v) {
        return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
    };
    if (!finite(a.values) || !finite(b.values)) return std::nan("");
    return pearson(average_ranks(a.values), average_ranks(b.values));
}

}  // namespace vitlens
