// The backward pass (Encoder::attention_gradients) and the class-specific
// attribution map against PyTorch autograd on every parity fixture.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "expect_map.h"
#include "test_support.h"
#include "vitlens/maps/attention_maps.h"
#include "vitlens/encoder/classifier.h"
#include "vitlens/errors.h"
#include "vitlens/maps/map_spec.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

// Within 1e-4 of the largest reference value, element by element.
void expect_close(const Tensor& got, const std::vector<float>& want, const std::string& what) {
    ASSERT_EQ(size_t(got.numel()), want.size()) << what;
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.f) << what << ": a zero reference proves nothing";
    float worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got[int64_t(i)] - want[i]));
    EXPECT_LE(worst, 1e-4f * scale) << what << ": max |diff| " << worst << ", largest value " << scale;
}


}  // namespace

// Every naming x dtype x image: d logit / d attention of the top-1 class, and
// the attribution maps of the top-1 and of another class.
TEST(AttributionParity, GradientsAndMapsMatchAutograd) {
    for (const std::string& name : fixture_models()) {
        Classifier clf(fixture(name), {Precision::F32, 1});
        const TokenLayout lay = token_layout(clf.spec());
        for (auto& [img, want] : expected()["models"][name]["images"].items()) {
            const auto& ref = want["attribution"];
            const cv::Mat rgb = decode_image(fixture("images/" + img));
            Explained top = clf.explain_class(rgb, -1);
            const std::string what = name + " " + img;
            EXPECT_EQ(top.explained_class, ref["top_class"].get<int>()) << what;
            expect_close(top.attention_grad, ref["grad_top"].get<std::vector<float>>(), what + " grad");
            expect_map(attribution(top.attention, top.attention_grad, lay), ref["map_top"], what + " map top");
            Explained other = clf.explain_class(rgb, ref["other_class"].get<int>());
            EXPECT_EQ(other.explained_class, ref["other_class"].get<int>());
            expect_map(attribution(other.attention, other.attention_grad, lay), ref["map_other"], what + " map other");
        }
    }
}

// The gradient pass runs the same forward: the same logits, attention and
// token norms as explain(), and the class changes the map.
TEST(Attribution, ForwardOfTheGradientPassIsTheForward) {
    Classifier clf(fixture("timm_f32"), {Precision::F32, 1});
    const cv::Mat rgb = decode_image(fixture("images/img1.png"));
    Explained plain = clf.explain(rgb);
    Explained top = clf.explain_class(rgb, -1);
    EXPECT_EQ(top.prediction.logits, plain.prediction.logits);
    ASSERT_EQ(top.attention.numel(), plain.attention.numel());
    for (int64_t i = 0; i < top.attention.numel(); ++i) ASSERT_EQ(top.attention[i], plain.attention[i]) << i;
    for (int64_t i = 0; i < top.token_norms.numel(); ++i) ASSERT_EQ(top.token_norms[i], plain.token_norms[i]) << i;
    EXPECT_EQ(top.explained_class, plain.prediction.top[0].index);
    const TokenLayout lay = token_layout(clf.spec());
    Explained other = clf.explain_class(rgb, (top.explained_class + 1) % clf.spec().num_classes);
    EXPECT_NE(attribution(top.attention, top.attention_grad, lay).values,
              attribution(other.attention, other.attention_grad, lay).values);
}

// A batch gives each image the gradient it gets alone, for its own class.
TEST(Attribution, BatchMatchesSingleImages) {
    Classifier clf(fixture("hf_deit_f32"), {Precision::F32, 1});
    const ModelSpec& s = clf.spec();
    const int64_t per = int64_t(s.patches()) * s.patch_dim();
    Tensor batch({2, per});
    for (int i = 0; i < 2; ++i) {
        Tensor t = prepare_image(decode_image(fixture("images/img" + std::to_string(i) + ".png")), s, nullptr);
        std::copy(t.data(), t.data() + per, batch.data() + i * per);
    }
    int classes[2] = {2, -1};
    std::vector<float> logits(2 * s.num_classes);
    AttentionGradients both;
    clf.encoder().attention_gradients(batch.data(), 2, classes, logits.data(), both);
    ASSERT_GE(classes[1], 0);
    const int64_t L = s.layers, HTT = int64_t(s.heads) * s.tokens() * s.tokens();
    for (int i = 0; i < 2; ++i) {
        int c = classes[i];
        std::vector<float> one_logits(s.num_classes);
        AttentionGradients one;
        clf.encoder().attention_gradients(batch.data() + i * per, 1, &c, one_logits.data(), one);
        for (int64_t l = 0; l < L; ++l)
            for (int64_t k = 0; k < HTT; ++k)
                ASSERT_NEAR(both.grad[(l * 2 + i) * HTT + k], one.grad[l * HTT + k], 1e-5) << i << " " << l << " " << k;
    }
}

TEST(Attribution, ClassOutOfRangeNamesTheRange) {
    Classifier clf(fixture("hf_vit_f32"), {Precision::F32, 1});
    try {
        clf.explain_class(decode_image(fixture("images/img0.png")), 7);
        FAIL() << "no error";
    } catch (const ArgumentError& e) {
        EXPECT_STREQ(e.what(), "class 7 is out of range: the model has 7 classes (0..6, or -1 for the top-1)");
    }
}
