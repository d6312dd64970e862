#include "vitlens/encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_support.h"
#include "vitlens/classifier.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

std::vector<int> top5(const std::vector<float>& v) {
    std::vector<int> idx(v.size());
    for (size_t i = 0; i < v.size(); ++i) idx[i] = int(i);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] > v[b]; });
    idx.resize(5);
    return idx;
}

}  // namespace

// Every naming x dtype x image: logits within 1e-4 of the largest |logit|,
// top-5 identical, attention probabilities within 1e-5.
TEST(EncoderParity, AllFixturesF32) {
    for (const std::string& name : fixture_models()) {
        Classifier clf(fixture(name), {Precision::F32, 1});
        for (auto& [img, want] : expected()["models"][name]["images"].items()) {
            cv::Mat rgb = decode_image(fixture("images/" + img));
            Explained e = clf.explain(rgb, 7);
            auto ref = want["logits"].get<std::vector<float>>();
            float tol = 1e-4f * max_abs(ref);
            for (size_t k = 0; k < ref.size(); ++k)
                EXPECT_NEAR(e.prediction.logits[k], ref[k], tol) << name << " " << img << " logit " << k;
            EXPECT_EQ(top5(e.prediction.logits), top5(ref)) << name << " " << img;
            auto att = want["attention"].get<std::vector<float>>();
            ASSERT_EQ(int64_t(att.size()), e.attention.numel()) << name;
            float worst = 0;
            for (size_t i = 0; i < att.size(); ++i) worst = std::max(worst, std::fabs(att[i] - e.attention[int64_t(i)]));
            EXPECT_LT(worst, 1e-5f) << name << " " << img << " attention";
        }
    }
}

TEST(EncoderParity, Bf16MatchesTop1AndLogitsWithin3e2) {
    if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16/AMX: bf16 path not available";
    for (const std::string& name : fixture_models()) {
        Classifier clf(fixture(name), {Precision::BF16, 1});
        for (auto& [img, want] : expected()["models"][name]["images"].items()) {
            auto p = clf.classify({decode_image(fixture("images/" + img))}, 7).front();
            auto ref = want["logits"].get<std::vector<float>>();
            EXPECT_EQ(top5(p.logits)[0], top5(ref)[0]) << name << " " << img;
            for (size_t k = 0; k < ref.size(); ++k)
                EXPECT_NEAR(p.logits[k], ref[k], 3e-2f * max_abs(ref)) << name << " " << img << " logit " << k;
        }
    }
}

// A batch gives each image the logits it gets alone, and a cached plan is
// reused across batch sizes.
TEST(Encoder, BatchesMatchSingleImages) {
    Classifier clf(fixture("hf_deit_f32"), {Precision::F32, 2});
    std::vector<cv::Mat> imgs;
    for (auto n : {"img0.png", "img1.png", "img2.png", "wide.png"}) imgs.push_back(decode_image(fixture(std::string("images/") + n)));
    auto batch = clf.classify(imgs, 7);
    for (int rep = 0; rep < 2; ++rep)
        for (size_t i = 0; i < imgs.size(); ++i) {
            auto one = clf.classify({imgs[i]}, 7).front();
            for (size_t k = 0; k < one.logits.size(); ++k) EXPECT_NEAR(batch[i].logits[k], one.logits[k], 1e-4f);
        }
}

TEST(Encoder, CaptureDoesNotChangeLogits) {
    Classifier clf(fixture("timm_f32"), {Precision::F32, 1});
    cv::Mat img = decode_image(fixture("images/img1.png"));
    auto plain = clf.classify({img}, 7).front();
    auto ex = clf.explain(img, 7);
    EXPECT_EQ(plain.logits, ex.prediction.logits);
    EXPECT_EQ(ex.token_norms.shape(), (std::vector<int64_t>{2, 17}));
    // every attention row is a distribution
    const int64_t T = 17;
    for (int64_t r = 0; r < ex.attention.numel() / T; ++r) {
        double s = 0;
        for (int64_t j = 0; j < T; ++j) s += ex.attention[r * T + j];
        EXPECT_NEAR(s, 1.0, 1e-5);
    }
}
