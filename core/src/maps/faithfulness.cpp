#include "vitlens/maps/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "vitlens/errors.h"

namespace vitlens {

std::vector<int> rank_patches(const AttentionMap& m) {
    std::vector<int> order(m.values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return m.values[a] > m.values[b]; });
    return order;
}

std::vector<int> random_ranking(int n, uint64_t seed) {
    std::vector<int> order(size_t(std::max(0, n)));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(seed);
    for (size_t i = order.size(); i > 1; --i) {  // Fisher-Yates with our own draws: the same on every libstdc++
        const size_t j = size_t(rng() % i);
        std::swap(order[i - 1], order[j]);
    }
    return order;
}

double trapezoid_auc(const std::vector<double>& y) {
    if (y.size() < 2) throw ArgumentError("an AUC needs at least two points, got " + std::to_string(y.size()));
    double area = 0;
    for (size_t i = 1; i < y.size(); ++i) area += 0.5 * (y[i - 1] + y[i]);
    return area / double(y.size() - 1);
}

namespace {

// Softmax probability of class `cls` from one row of K logits.
double class_probability(const float* logits, int K, int cls) {
    const float mx = *std::max_element(logits, logits + K);
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(double(logits[k]) - mx);
    return std::exp(double(logits[cls]) - mx) / sum;
}

// Input `row` of the batch: the image with patches order[0..k) removed
// (deletion) or only those present (insertion).
void masked_image(const float* patches, const std::vector<int>& order, int k, bool keep_top, int64_t per_patch,
                  float* out) {
    const int64_t N = int64_t(order.size());
    if (keep_top) std::memset(out, 0, sizeof(float) * N * per_patch);
    else std::memcpy(out, patches, sizeof(float) * N * per_patch);
    for (int i = 0; i < k; ++i) {
        float* dst = out + order[size_t(i)] * per_patch;
        if (keep_top) std::memcpy(dst, patches + order[size_t(i)] * per_patch, sizeof(float) * per_patch);
        else std::memset(dst, 0, sizeof(float) * per_patch);
    }
}

}  // namespace

FaithfulnessCurves deletion_insertion(Encoder& enc, const float* patches, const std::vector<int>& order, int cls,
                                      int steps, int max_batch) {
    const ModelSpec& s = enc.spec();
    const int N = s.patches(), K = s.num_classes;
    const int64_t per_patch = s.patch_dim(), per_image = int64_t(N) * per_patch;
    if (int(order.size()) != N)
        throw ArgumentError("ranking has " + std::to_string(order.size()) + " patches, the model " + std::to_string(N));
    std::vector<char> seen(size_t(N), 0);
    for (int i : order) {
        if (i < 0 || i >= N || seen[size_t(i)])
            throw ArgumentError("ranking must list each of the " + std::to_string(N) + " patches once; " +
                                std::to_string(i) + (i < 0 || i >= N ? " is out of range" : " comes twice"));
        seen[size_t(i)] = 1;
    }
    if (steps < 1 || steps > N)
        throw ArgumentError("steps must be in [1, " + std::to_string(N) + "], got " + std::to_string(steps));
    check_class(cls, int(K), false);
    FaithfulnessCurves c;
    for (int i = 0; i <= steps; ++i) c.removed.push_back(int(std::lround(double(i) * N / steps)));
    const int total = 2 * (steps + 1);  // deletion inputs, then insertion inputs
    std::vector<double> prob(static_cast<size_t>(total));
    const int bmax = std::max(1, std::min(max_batch, total));
    Tensor batch = Tensor::uninitialized({int64_t(bmax), per_image});
    std::vector<float> logits(size_t(bmax) * K);
    for (int first = 0; first < total; first += bmax) {
        const int B = std::min(bmax, total - first);
        for (int b = 0; b < B; ++b) {
            const int j = first + b, step = j % (steps + 1);
            masked_image(patches, order, c.removed[size_t(step)], j > steps, per_patch, batch.data() + b * per_image);
        }
        enc.forward(batch.data(), B, logits.data());
        for (int b = 0; b < B; ++b) prob[size_t(first + b)] = class_probability(logits.data() + b * K, K, cls);
    }
    c.deletion.assign(prob.begin(), prob.begin() + steps + 1);
    c.insertion.assign(prob.begin() + steps + 1, prob.end());
    c.deletion_auc = trapezoid_auc(c.deletion);
    c.insertion_auc = trapezoid_auc(c.insertion);
    return c;
}

}  // namespace vitlens
