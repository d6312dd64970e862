// Quantiles of a stream of durations in bounded memory: a day-long webcam
// run keeps the same few kilobytes as a ten-frame one.
#pragma once

#include <cstdint>
#include <vector>

namespace vitlens {

// Log-spaced histogram: bucket i holds values in [lo * r^i, lo * r^(i+1)),
// r = 1.005, lo = 1e-4, up to 1e7 (ms: 0.1 us to 2.8 h); values below lo
// count as lo, above the top as the top. quantile() returns the geometric
// middle of the bucket holding the nearest-rank element, clamped to the
// observed min and max, so it is within 0.25% of the exact nearest-rank
// quantile for values inside the range.
class StageStats {
public:
    StageStats();
    void add(double v);
    // q in [0, 1]: the element of rank round(q * (n - 1)) in sorted order (0 if empty).
    double quantile(double q) const;
    int64_t count() const { return n_; }
    double min() const { return n_ ? min_ : 0; }
    double max() const { return n_ ? max_ : 0; }

private:
    std::vector<uint32_t> buckets_;
    int64_t n_ = 0;
    double min_ = 0, max_ = 0;
};

}  // namespace vitlens
