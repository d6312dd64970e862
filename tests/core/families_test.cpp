// Parity of the newer families against the PyTorch reference of
// models/make_family_fixtures.py: DeiT III and DINOv2 (LayerScale), timm
// registers, the HF DINOv2 head on [class token, patch mean], backbones
// without a head, position embeddings resampled to another input size, and a
// multi-label head.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "expect_map.h"
#include "test_support.h"
#include "vitlens/encoder/classifier.h"
#include "vitlens/errors.h"
#include "vitlens/maps/feature_pca.h"
#include "vitlens/images/image_io.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/model/pos_embed.h"
#include "vitlens/images/preprocess.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

const nlohmann::json& families() {
    static const nlohmann::json j = [] {
        std::ifstream f(fixture("families.json"));
        std::stringstream s;
        s << f.rdbuf();
        return nlohmann::json::parse(s.str());
    }();
    return j;
}

// Within 1e-4 of the largest |reference|.
template <typename T>
void expect_close(const T& got, const std::vector<float>& want, const std::string& what, float rel = 1e-4f) {
    ASSERT_EQ(size_t(got.size()), want.size()) << what;
    float scale = 0, worst = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.f) << what << ": a zero reference proves nothing";
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    EXPECT_LE(worst, rel * scale) << what << ": max |diff| " << worst << ", largest value " << scale;
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

// name[@size] -> the fixture directory and the classifier options.
Classifier load(const std::string& key) {
    ClassifierOptions o{Precision::F32, 1};
    std::string dir = key;
    if (auto at = key.find('@'); at != std::string::npos) {
        dir = key.substr(0, at);
        o.input_h = o.input_w = std::stoi(key.substr(at + 1));
    }
    return Classifier(fixture(dir), o);
}

// One fixture, every image: logits, attention, rollout, tokens, pooled, and
// (with a head) the attribution map of the top class.
void check_family(const std::string& key) {
    SCOPED_TRACE(key);
    const auto& want_model = families().at(key);
    Classifier clf = load(key);
    const ModelSpec& s = clf.spec();
    ASSERT_EQ(s.tokens(), want_model["tokens"].get<int>());
    ASSERT_EQ(s.n_prefix, want_model["n_prefix"].get<int>());
    EXPECT_EQ(s.image_h, want_model["input"][0].get<int>());
    const TokenLayout lay = token_layout(s);
    for (auto& [img, want] : want_model["images"].items()) {
        const std::string what = key + " " + img;
        const cv::Mat rgb = decode_image(fixture("images/" + img));
        Tensor patches = prepare_image(rgb, s, nullptr);
        for (int i = 0; i < 8; ++i)
            EXPECT_NEAR(patches[i], want["input_first_values"][i].get<float>(), 1e-4) << what;
        Features f;
        AttentionCapture cap;
        std::vector<float> logits(std::max(1, s.num_classes));
        clf.encoder().forward(patches.data(), 1, s.has_head() ? logits.data() : nullptr, &cap, &f);
        expect_close(values(cap.attention), want["attention"].get<std::vector<float>>(), what + " attention", 1e-5f);
        expect_close(values(f.tokens), want["tokens"].get<std::vector<float>>(), what + " tokens");
        expect_close(values(f.pooled), want["pooled"].get<std::vector<float>>(), what + " pooled");
        const int64_t L = s.layers, H = s.heads, T = s.tokens();
        cap.attention.reshape({L, H, T, T});
        expect_map(rollout(cap.attention, lay), want["rollout_mean"], what + " rollout");
        if (!s.has_head()) {
            EXPECT_FALSE(want.contains("logits")) << what;
            continue;
        }
        expect_close(logits, want["logits"].get<std::vector<float>>(), what + " logits");
        if (want.contains("attribution_top")) {
            Explained e = clf.explain_class(rgb, -1);
            EXPECT_EQ(e.explained_class, want["attribution_top"]["class"].get<int>()) << what;
            expect_map(attribution(e.attention, e.attention_grad, lay), want["attribution_top"]["map"], what + " attribution");
        }
    }
}

}  // namespace

TEST(FamilyParity, DeiT3LayerScaleWithoutClassPosition) { check_family("timm_deit3_f32"); }
TEST(FamilyParity, TimmRegistersBackboneNative) { check_family("timm_reg4_f32"); }
TEST(FamilyParity, TimmRegistersBackboneAtASmallerSize) { check_family("timm_reg4_f32@32"); }
TEST(FamilyParity, HfDinov2ClassificationHead) { check_family("hf_dinov2_cls_f32"); }
TEST(FamilyParity, HfDinov2BackboneWithoutPrefix) { check_family("hf_dinov2_f32"); }
TEST(FamilyParity, HfVitAtALargerSize) { check_family("hf_vit_f32@40"); }
TEST(FamilyParity, TimmAtALargerSize) { check_family("timm_f32@48"); }

TEST(Families, SpecsSayWhatTheyAre) {
    Classifier reg = load("timm_reg4_f32");
    EXPECT_EQ(reg.spec().registers, 4);
    EXPECT_EQ(reg.spec().n_prefix, 5);
    EXPECT_FALSE(reg.spec().has_head());
    EXPECT_FALSE(reg.spec().pos_has_prefix);
    EXPECT_TRUE(reg.spec().layer_scale);
    Classifier dino = load("hf_dinov2_cls_f32");
    EXPECT_EQ(dino.spec().global_pool, "cls_avg");
    EXPECT_EQ(dino.spec().head_in(), 2 * dino.spec().hidden);
    EXPECT_EQ(dino.spec().pos_grid_h, 5);
    EXPECT_EQ(dino.spec().grid_h(), 4);
}

// A backbone has no class to classify or attribute; its maps still work.
TEST(Families, BackboneHasNoClassesButExplains) {
    Classifier clf = load("hf_dinov2_f32");
    const cv::Mat rgb = decode_image(fixture("images/img0.png"));
    const Prediction p = clf.classify({rgb}).front();
    EXPECT_TRUE(p.logits.empty());
    EXPECT_TRUE(p.top.empty());
    EXPECT_THROW(clf.explain_class(rgb, -1), ModelError);
    Explained e = clf.explain(rgb);
    EXPECT_TRUE(e.prediction.top.empty());
    EXPECT_EQ(e.attention.numel(), int64_t(2) * 3 * 17 * 17);
}

// problem_type multi_label_classification: an independent sigmoid per class.
TEST(Families, MultiLabelHeadGivesSigmoids) {
    Classifier single(fixture("hf_vit_f32"), {Precision::F32, 1});
    Classifier multi(fixture("hf_vit_multilabel_f32"), {Precision::F32, 1});
    EXPECT_TRUE(multi.spec().multi_label);
    const cv::Mat rgb = decode_image(fixture("images/img1.png"));
    Prediction a = single.classify({rgb}, 7).front(), b = multi.classify({rgb}, 7).front();
    EXPECT_EQ(a.logits, b.logits);
    double sum = 0;
    for (int k = 0; k < 7; ++k) {
        EXPECT_NEAR(b.probs[k], 1.0 / (1.0 + std::exp(-double(b.logits[k]))), 1e-6);
        sum += b.probs[k];
    }
    EXPECT_GT(std::fabs(sum - 1.0), 1e-3) << "sigmoids that sum to 1 would be a softmax";
    EXPECT_EQ(a.top[0].index, b.top[0].index);
}

// torch's bicubic: the identity at the same size, constants stay constant,
// and the antialiased kind differs from the plain one when shrinking.
TEST(PosEmbed, ResamplingKeepsConstantsAndIdentity) {
    Tensor g({9, 2});
    for (int i = 0; i < 9; ++i) g[2 * i] = 3.f, g[2 * i + 1] = float(i);
    for (PosResample m : {PosResample::Bicubic, PosResample::BicubicAntialias}) {
        Tensor same = resample_grid(g, 3, 3, 3, 3, m);
        for (int i = 0; i < 18; ++i) EXPECT_NEAR(same[i], g[i], 1e-6) << i;
        Tensor up = resample_grid(g, 3, 3, 5, 4, m);
        ASSERT_EQ(up.numel(), 40);
        for (int i = 0; i < 20; ++i) EXPECT_NEAR(up[2 * i], 3.f, 1e-5) << i;
    }
    Tensor a = resample_grid(g, 3, 3, 2, 2, PosResample::Bicubic), b = resample_grid(g, 3, 3, 2, 2, PosResample::BicubicAntialias);
    EXPECT_GT(std::fabs(a[1] - b[1]), 1e-3);
}

TEST(Families, InputSizeMustBeAMultipleOfThePatch) {
    try {
        load("timm_f32@36");
        FAIL() << "36 is not a multiple of 8";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("multiple of the patch size 8"), std::string::npos) << e.what();
    }
}

// Patches built from three uncorrelated two-valued patterns of falling
// variance: component k separates pattern k's two groups.
TEST(FeaturePca, ComponentsFollowTheVarianceOrder) {
    const int gh = 4, gw = 4, N = gh * gw, D = 6, np = 1;
    std::vector<float> tokens(size_t((np + N) * D), 0.f);
    for (int i = 0; i < N; ++i) {
        float* t = tokens.data() + (np + i) * D;
        t[0] = (i % 2 ? 4.f : -4.f);          // variance 16: columns alternate
        t[1] = (i / gw < 2 ? 2.f : -2.f);     // variance 4: top half vs bottom half
        t[2] = ((i / gw) % 2 ? 1.f : -1.f);    // variance 1: rows alternate
        t[5] = 7.f;                            // a constant: no variance
    }
    TokenLayout lay{np, gh, gw};
    const auto c = feature_pca(tokens.data(), np + N, D, lay);
    // two-valued components: which group gets 1 is a tie the sign rule breaks either way
    EXPECT_NEAR(std::fabs(c[0].values[0] - c[0].values[1]), 1.f, 1e-5);
    EXPECT_NEAR(std::fabs(c[1].values[0] - c[1].values[size_t(N - 1)]), 1.f, 1e-5);
    for (int i = 0; i < N; ++i) {
        EXPECT_NEAR(c[0].values[size_t(i)], c[0].values[size_t(i % 2)], 1e-5) << i;
        EXPECT_NEAR(c[1].values[size_t(i)], c[1].values[i / gw < 2 ? 0 : size_t(N - 1)], 1e-5) << i;
    }
    EXPECT_NEAR(std::fabs(c[2].values[0] - c[2].values[size_t(gw)]), 1.f, 1e-5);
    for (int i = 0; i < N; ++i) EXPECT_NEAR(c[2].values[size_t(i)], c[2].values[(i / gw) % 2 ? size_t(gw) : 0], 1e-5) << i;
    EXPECT_THROW(feature_pca(tokens.data(), N, D, lay), ArgumentError);
}

// On a real checkpoint: one image's components come out of its tokens.
TEST(FeaturePca, OnTheDinov2Backbone) {
    Classifier clf = load("hf_dinov2_f32");
    const ModelSpec& s = clf.spec();
    Tensor patches = prepare_image(decode_image(fixture("images/img0.png")), s, nullptr);
    Features f;
    clf.embed_patches(patches.data(), 1, f);
    const auto c = feature_pca(f.tokens.data(), s.tokens(), s.hidden, token_layout(s));
    for (const AttentionMap& m : c) {
        EXPECT_EQ(m.rows, 4);
        EXPECT_EQ(*std::max_element(m.values.begin(), m.values.end()), 1.f);
        EXPECT_EQ(*std::min_element(m.values.begin(), m.values.end()), 0.f);
    }
}
