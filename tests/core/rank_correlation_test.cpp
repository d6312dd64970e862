// Spearman's rho against values worked out by hand (ties included) and the
// edge cases a map can hit: constant maps and mismatched grids.
#include <gtest/gtest.h>

#include <cmath>

#include "vitlens/errors.h"
#include "vitlens/maps/rank_correlation.h"

using namespace vitlens;

namespace {

AttentionMap grid(int rows, int cols, std::vector<float> v) { return AttentionMap{rows, cols, std::move(v)}; }

}  // namespace

TEST(RankCorrelation, TiesShareTheMeanRank) {
    const std::vector<double> r = average_ranks({0.5f, 0.1f, 0.5f, 0.9f, 0.5f});
    EXPECT_EQ(r, (std::vector<double>{3.0, 1.0, 3.0, 5.0, 3.0}));
}

TEST(RankCorrelation, SameOrderIsOneReversedIsMinusOne) {
    const AttentionMap a = grid(2, 2, {0.1f, 0.2f, 0.3f, 1.0f});
    EXPECT_DOUBLE_EQ(spearman(a, grid(2, 2, {0.0f, 0.5f, 0.6f, 0.7f})), 1.0);  // monotone, not linear: still 1
    EXPECT_DOUBLE_EQ(spearman(a, grid(2, 2, {1.0f, 0.3f, 0.2f, 0.1f})), -1.0);
}

TEST(RankCorrelation, MatchesTheHandComputedValueWithTies) {
    // ranks x = 1 2 3 4 5, y = 1.5 1.5 4 3 5 -> rho = 8.5 / sqrt(10 * 9.5) = 0.872082...
    const AttentionMap a = grid(1, 5, {1, 2, 3, 4, 5});
    const AttentionMap b = grid(1, 5, {0.2f, 0.2f, 0.9f, 0.4f, 1.0f});
    EXPECT_NEAR(spearman(a, b), 8.5 / std::sqrt(10.0 * 9.5), 1e-12);
}

TEST(RankCorrelation, ConstantMaps) {
    const AttentionMap zero = grid(1, 3, {0, 0, 0});
    EXPECT_DOUBLE_EQ(spearman(zero, zero), 1.0);
    EXPECT_DOUBLE_EQ(spearman(zero, grid(1, 3, {0.1f, 0.5f, 1.0f})), 0.0);
}

TEST(RankCorrelation, RefusesDifferentGrids) {
    try {
        spearman(grid(2, 3, std::vector<float>(6)), grid(3, 2, std::vector<float>(6)));
        FAIL() << "no error";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("2x3 and 3x2"), std::string::npos) << e.what();
    }
}

TEST(RankCorrelation, ANonFiniteMapHasNoRanking) {
    const AttentionMap a = grid(1, 3, {0.1f, 0.5f, 1.0f});
    EXPECT_TRUE(std::isnan(spearman(a, grid(1, 3, {0.1f, NAN, 1.0f}))));
    EXPECT_TRUE(std::isnan(spearman(grid(1, 3, {INFINITY, 0.5f, 1.0f}), a)));
}
