// How alike two maps rank the patches: Spearman's rank correlation, the
// measure `vitlens compare` and the precision tests use to say whether a
// lower precision moved where the model looked.
#pragma once

#include <vector>

#include "vitlens/maps/attention_maps.h"

namespace vitlens {

// Ranks 1..n of `v` (n values), ties sharing the mean of their ranks.
std::vector<double> average_ranks(const std::vector<float>& v);

// Spearman's rho of two maps of one grid: the Pearson correlation of their
// average ranks, in [-1, 1]. Two constant maps are alike (1); one constant
// map against a varying one is uncorrelated (0); NaN when either map holds
// a NaN or an infinity (no ranking exists). ArgumentError when the
// grids differ (names both).
double spearman(const AttentionMap& a, const AttentionMap& b);

}  // namespace vitlens
