// How faithful a map is: deletion and insertion curves (Petsiuk, Das and
// Saenko, "RISE", BMVC 2018). Patches are ranked by the map; deletion
// replaces the top-k patches with the normalised zero (the mean colour) and
// follows the probability of one class as k grows; insertion starts from the
// all-mean image and puts the patches back in the same order. A faithful map
// makes the deletion curve fall fast (low AUC) and the insertion curve rise
// fast (high AUC).
#pragma once

#include <cstdint>
#include <vector>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/encoder/encoder.h"

namespace vitlens {

// Patch indices (row-major over the grid) by decreasing map value, ties by index.
std::vector<int> rank_patches(const AttentionMap& m);
// A random order of n patches, the same for the same seed.
std::vector<int> random_ranking(int n, uint64_t seed);

// Area under y over x in [0, 1], the y values evenly spaced, trapezoid rule.
double trapezoid_auc(const std::vector<double>& y);

struct FaithfulnessCurves {
    std::vector<int> removed;        // k at each step: round(i N / steps), i = 0..steps
    std::vector<double> deletion;    // probability of the class with the top-k patches removed
    std::vector<double> insertion;   // with only the top-k patches present
    double deletion_auc = 0, insertion_auc = 0;
};

// patches: one image, (N, C*P*P) as patchify() writes it (normalised, so 0
// is the mean colour); order: the N patch indices, most important first
// (a permutation of 0..N-1, else ArgumentError);
// cls: the class followed; steps in [1, N]. The 2 (steps + 1) inputs go
// through `enc` in batches of at most max_batch.
FaithfulnessCurves deletion_insertion(Encoder& enc, const float* patches, const std::vector<int>& order, int cls,
                                      int steps, int max_batch = 64);

}  // namespace vitlens
