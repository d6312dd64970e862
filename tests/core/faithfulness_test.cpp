// Deletion and insertion AUCs on a ViT built so that its class token reads
// exactly one patch: the class token's query and the keys only see a
// position marker, so its attention is one-hot on that patch, and the
// prediction depends on nothing else. With p1 the clean probability and p0
// the probability with that patch removed, every curve is known in closed
// form.
#include <gtest/gtest.h>

#include <random>

#include "vitlens/model/bench_models.h"
#include "vitlens/errors.h"
#include "vitlens/maps/faithfulness.h"

using namespace vitlens;

namespace {

constexpr int kPatch = 5;  // the patch the model reads (row 1, col 1 of a 4x4 grid)

ModelSpec tiny_spec() {
    ModelSpec s;
    s.hidden = 8;
    s.layers = 1;
    s.heads = 1;
    s.mlp = 8;
    s.image_h = s.image_w = 16;
    s.patch = 4;
    s.num_classes = 3;
    s.eps = 1e-6f;
    s.labels = {"a", "b", "c"};
    return s;
}

EncoderWeights one_patch_weights(const ModelSpec& s) {
    EncoderWeights w = random_encoder_weights(s, 3);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> nd(0.f, 0.5f);
    auto fill = [&](Tensor& t) {
        for (int64_t i = 0; i < t.numel(); ++i) t[i] = nd(rng);
    };
    const int64_t D = s.hidden, T = s.tokens();
    fill(w.patch_w);
    fill(w.head_w);
    BlockWeights& b = w.blocks[0];
    fill(b.qkv_w);
    fill(b.proj_w);
    fill(b.fc1_w);
    fill(b.fc2_w);
    for (int64_t k = 0; k < D; ++k) w.patch_w[k] = 0.f;  // dim 0 carries only the position marker
    w.patch_b[0] = 0.f;
    w.prefix[0] = 0.f;
    for (int64_t t = 0; t < T; ++t) w.pos[t * D] = t == 1 + kPatch ? 50.f : -50.f;
    for (int64_t r = 0; r < 2 * D; ++r)  // Q and K read dim 0 only, with no bias
        for (int64_t k = 0; k < D; ++k) b.qkv_w[r * D + k] = 0.f;
    for (int64_t r = 0; r < 2 * D; ++r) b.qkv_b[r] = 0.f;
    b.qkv_w[0] = -1000.f;  // q_0: large where the class token's marker is -50
    b.qkv_w[D * D] = 1.f;  // k_t: the marker
    for (int64_t i = 0; i < w.patch_w.numel(); ++i) w.patch_w[i] *= 5.f;  // content comparable to the marker
    for (int64_t i = 0; i < b.proj_w.numel(); ++i) b.proj_w[i] *= 10.f;   // the patch's value outweighs the marker
    for (int64_t i = 0; i < w.head_w.numel(); ++i) w.head_w[i] *= 0.8f;  // probabilities away from 0 and 1
    return w;
}

double prob_of(Encoder& enc, const std::vector<float>& patches, int cls) {
    std::vector<float> logits(3);
    enc.forward(patches.data(), 1, logits.data());
    double mx = std::max({logits[0], logits[1], logits[2]}), sum = 0;
    for (float v : logits) sum += std::exp(v - mx);
    return std::exp(logits[size_t(cls)] - mx) / sum;
}

}  // namespace

TEST(Faithfulness, ClosedFormOnAModelThatReadsOnePatch) {
    const ModelSpec s = tiny_spec();
    Encoder enc(s, one_patch_weights(s));
    const int N = s.patches();
    std::mt19937_64 rng(11);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(size_t(N) * s.patch_dim());
    for (float& v : x) v = nd(rng);

    // The construction holds: the class token attends to the patch alone.
    std::vector<float> logits(3);
    AttentionCapture cap;
    enc.forward(x.data(), 1, logits.data(), &cap);
    const int T = s.tokens();
    for (int t = 0; t < T; ++t) ASSERT_EQ(cap.attention[t], t == 1 + kPatch ? 1.f : 0.f) << t;
    const int cls = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    std::vector<float> without = x;
    std::fill(without.begin() + kPatch * s.patch_dim(), without.begin() + (kPatch + 1) * s.patch_dim(), 0.f);
    const double p1 = prob_of(enc, x, cls), p0 = prob_of(enc, without, cls);
    ASSERT_GT(p1 - p0, 0.05) << "the patch must matter for the test to mean anything: p1 " << p1 << " p0 " << p0;

    // A map peaked on the patch ranks it first; the reverse ranks it last.
    AttentionMap m;
    m.rows = m.cols = 4;
    m.values.assign(size_t(N), 0.1f);
    m.values[kPatch] = 1.f;
    std::vector<int> right = rank_patches(m);
    ASSERT_EQ(right[0], kPatch);
    std::vector<int> wrong(right.rbegin(), right.rend());

    std::vector<int> twice = right;
    twice[1] = twice[0];
    EXPECT_THROW(deletion_insertion(enc, x.data(), twice, cls, 4), ArgumentError);
    std::vector<int> outside = right;
    outside[2] = N;
    EXPECT_THROW(deletion_insertion(enc, x.data(), outside, cls, 4), ArgumentError);
    for (int steps : {N, 4}) {
        const double n = steps;  // the patch leaves (or arrives) at the first step, or at the last
        FaithfulnessCurves good = deletion_insertion(enc, x.data(), right, cls, steps, 7);
        FaithfulnessCurves bad = deletion_insertion(enc, x.data(), wrong, cls, steps, 64);
        ASSERT_EQ(good.deletion.size(), size_t(steps + 1));
        EXPECT_NEAR(good.deletion_auc, ((p1 + p0) / 2 + (n - 1) * p0) / n, 1e-6) << steps;
        EXPECT_NEAR(good.insertion_auc, ((p0 + p1) / 2 + (n - 1) * p1) / n, 1e-6) << steps;
        EXPECT_NEAR(bad.deletion_auc, ((n - 1) * p1 + (p1 + p0) / 2) / n, 1e-6) << steps;
        EXPECT_NEAR(bad.insertion_auc, ((n - 1) * p0 + (p0 + p1) / 2) / n, 1e-6) << steps;
        EXPECT_NEAR(good.deletion.front(), p1, 1e-6);
        EXPECT_NEAR(good.insertion.front(), p0, 1e-6);  // nothing inserted: the all-mean image lacks the patch too
        EXPECT_LT(good.deletion_auc, bad.deletion_auc);
        EXPECT_GT(good.insertion_auc, bad.insertion_auc);
    }
}

TEST(Faithfulness, TrapezoidAndRankingBasics) {
    EXPECT_DOUBLE_EQ(trapezoid_auc({1.0, 0.0}), 0.5);
    EXPECT_DOUBLE_EQ(trapezoid_auc({1.0, 1.0, 0.0}), 0.75);
    EXPECT_THROW(trapezoid_auc({1.0}), ArgumentError);
    AttentionMap m;
    m.rows = 1;
    m.cols = 4;
    m.values = {0.5f, 1.f, 0.5f, 0.f};
    EXPECT_EQ(rank_patches(m), (std::vector<int>{1, 0, 2, 3}));  // ties keep index order
    std::vector<int> r = random_ranking(10, 42);
    EXPECT_EQ(r, random_ranking(10, 42));
    EXPECT_NE(r, random_ranking(10, 43));
    std::sort(r.begin(), r.end());
    for (int i = 0; i < 10; ++i) EXPECT_EQ(r[size_t(i)], i);
}
