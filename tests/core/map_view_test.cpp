// The one explain path: ExplainRequest -> Classifier::explain_patches ->
// compute_view, for every method, against the functions it replaced.
#include "vitlens/maps/map_view.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "vitlens/errors.h"
#include "vitlens/images/image_io.h"
#include "vitlens/maps/faithfulness.h"
#include "vitlens/maps/feature_pca.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

MapSpec spec_of(MapMethod m) {
    MapSpec s;
    s.method = m;
    return s;
}

}  // namespace

// What each method keeps, and the union of several.
TEST(ExplainRequest, NeedsFollowTheMethods) {
    EXPECT_EQ(explain_request(spec_of(MapMethod::Rollout)).need, MapNeed::Capture);
    EXPECT_EQ(explain_request(spec_of(MapMethod::Attribution)).need, MapNeed::Gradients);
    EXPECT_EQ(explain_request(spec_of(MapMethod::Random)).need, MapNeed::None);
    const ExplainRequest f = explain_request(spec_of(MapMethod::Features));
    EXPECT_EQ(f.need, MapNeed::None);
    EXPECT_TRUE(f.features);
    MapSpec attr = spec_of(MapMethod::Attribution);
    attr.target_class = 3;
    const ExplainRequest all = explain_request({spec_of(MapMethod::Features), attr, spec_of(MapMethod::Rollout)}, 2);
    EXPECT_EQ(all.need, MapNeed::Gradients);
    EXPECT_EQ(all.target_class, 3);
    EXPECT_TRUE(all.features);
    EXPECT_EQ(all.top_k, 2);
}

// One forward gives the attention and the features; the views equal the
// functions called directly; a pass without attention refuses an attention map.
TEST(MapView, EveryMethodFromOnePass) {
    Classifier clf(fixture("hf_vit_f32"), {Precision::F32, 1});
    const ModelSpec& s = clf.spec();
    const cv::Mat rgb = decode_image(fixture("images/img0.png"));
    const Explained e =
        clf.explain(rgb, explain_request({spec_of(MapMethod::Rollout), spec_of(MapMethod::Features)}, 3));
    ASSERT_EQ(e.attention.shape(), (std::vector<int64_t>{s.layers, s.heads, s.tokens(), s.tokens()}));
    ASSERT_EQ(e.features.tokens.numel(), int64_t(s.tokens()) * s.hidden);
    EXPECT_EQ(e.prediction.top.size(), 3u);

    const MapView r = compute_view(e, s, spec_of(MapMethod::Rollout));
    EXPECT_FALSE(r.colour);
    EXPECT_EQ(r.heat.values, rollout(e.attention, token_layout(s)).values);

    const MapView f = compute_view(e, s, spec_of(MapMethod::Features));
    ASSERT_TRUE(f.colour);
    const auto direct = feature_pca(e.features.tokens.data(), s.tokens(), s.hidden, token_layout(s));
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(f.channels[k].values, direct[k].values);

    Explained plain = clf.explain(rgb, explain_request(spec_of(MapMethod::Random)));
    EXPECT_TRUE(plain.attention.empty());
    EXPECT_TRUE(plain.features.tokens.empty());
    EXPECT_THROW(compute_view(plain, s, spec_of(MapMethod::Rollout)), ArgumentError);
    EXPECT_THROW(compute_view(plain, s, spec_of(MapMethod::Features)), ArgumentError);
}

// The random baseline ranks patches exactly as random_ranking(seed) does, so
// eval --faithfulness's random figures did not move; seeds differ.
TEST(MapView, RandomRanksAsRandomRanking) {
    ModelSpec s;
    s.image_h = s.image_w = 64;
    s.patch = 8;
    const TokenLayout lay = token_layout(s);
    for (uint64_t seed : {0u, 1u, 7u}) {
        MapSpec r = spec_of(MapMethod::Random);
        r.seed = seed;
        Tensor none;
        const AttentionMap m = compute_map(none, lay, r);
        EXPECT_EQ(rank_patches(m), random_ranking(s.patches(), seed)) << seed;
    }
    MapSpec a = spec_of(MapMethod::Random), b = a;
    b.seed = 1;
    Tensor none;
    EXPECT_NE(compute_map(none, lay, a).values, compute_map(none, lay, b).values);
}

// A stream passes one Explained frame after frame: the attention's storage is
// reused, and a failed pass leaves it with the caller.
TEST(MapView, ExplainPatchesReusesAndKeepsStorage) {
    Classifier clf(fixture("hf_vit_f32"), {Precision::F32, 1});
    Tensor patches = prepare_image(decode_image(fixture("images/img0.png")), clf.spec(), nullptr);
    const ExplainRequest r = explain_request(spec_of(MapMethod::Rollout));
    Explained e;
    clf.explain_patches(patches.data(), r, e);
    const float* first = e.attention.data();
    clf.explain_patches(patches.data(), r, e);
    EXPECT_EQ(e.attention.data(), first);
    ExplainRequest bad = explain_request(spec_of(MapMethod::Attribution));
    bad.target_class = 9999;
    EXPECT_THROW(clf.explain_patches(patches.data(), bad, e), ArgumentError);
    EXPECT_FALSE(e.attention.empty());
}
