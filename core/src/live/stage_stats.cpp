#include "vitlens/live/stage_stats.h"

#include <algorithm>
#include <cmath>

namespace vitlens {

namespace {
constexpr double kLo = 1e-4, kHi = 1e7, kRatio = 1.005;
const double kLogRatio = std::log(kRatio);
const int kBuckets = static_cast<int>(std::ceil(std::log(kHi / kLo) / std::log(kRatio))) + 1;

int bucket_of(double v) {
    if (!(v > kLo)) return 0;
    return std::min(kBuckets - 1, static_cast<int>(std::log(v / kLo) / kLogRatio));
}
}  // namespace

StageStats::StageStats() : buckets_(kBuckets, 0) {}

void StageStats::add(double v) {
    if (!std::isfinite(v)) return;  // a broken clock reading is not a timing
    min_ = n_ ? std::min(min_, v) : v;
    max_ = n_ ? std::max(max_, v) : v;
    ++n_;
    ++buckets_[bucket_of(v)];
}

double StageStats::quantile(double q) const {
    if (n_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const int64_t rank = static_cast<int64_t>(q * static_cast<double>(n_ - 1) + 0.5);
    int64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen > rank) {
            double mid = kLo * std::exp((i + 0.5) * kLogRatio);
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

}  // namespace vitlens
