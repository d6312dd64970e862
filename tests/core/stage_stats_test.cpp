#include "vitlens/live/stage_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using vitlens::StageStats;

namespace {

double exact(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * (v.size() - 1) + 0.5)];
}

}  // namespace

// 10,000 frame timings with a long tail: every quantile within 1% of the
// exact nearest-rank value, from a histogram of fixed size.
TEST(StageStats, QuantilesWithinOnePercentOfExact) {
    std::mt19937 rng(7);
    std::lognormal_distribution<double> ms(1.0, 0.8);
    std::vector<double> v;
    StageStats s;
    for (int i = 0; i < 10000; ++i) {
        double x = ms(rng);
        if (i % 97 == 0) x *= 40;  // stalls
        v.push_back(x);
        s.add(x);
    }
    EXPECT_EQ(s.count(), 10000);
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0}) {
        double e = exact(v, q);
        EXPECT_NEAR(s.quantile(q), e, 0.01 * e) << "q=" << q;
    }
    EXPECT_EQ(s.min(), *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(s.max(), *std::max_element(v.begin(), v.end()));
}

TEST(StageStats, EmptyZeroAndConstant) {
    StageStats s;
    EXPECT_EQ(s.quantile(0.5), 0.0);
    s.add(0.0);
    EXPECT_EQ(s.quantile(0.5), 0.0);
    StageStats c;
    for (int i = 0; i < 100; ++i) c.add(3.25);
    EXPECT_EQ(c.quantile(0.5), 3.25);  // clamped to the observed range
    EXPECT_EQ(c.quantile(0.95), 3.25);
}

// A million uniform values: the median still lands where it should.
TEST(StageStats, MillionValues) {
    StageStats b;
    for (int i = 0; i < 1000000; ++i) b.add(0.001 * (i % 5000));
    EXPECT_NEAR(b.quantile(0.5), 2.5, 0.025);
    EXPECT_NEAR(b.quantile(0.95), 4.75, 0.0475);
}
