#include "vitlens/maps/attention_maps.h"
#include "vitlens/errors.h"
#include "vitlens/maps/map_render.h"

#include <gtest/gtest.h>

#include <cmath>

#include "expect_map.h"
#include "test_support.h"
#include "vitlens/encoder/classifier.h"

using namespace vitlens;
using namespace vitlens::test;

// Maps computed from the encoder's attention match the PyTorch reference maps.
TEST(AttentionMaps, ParityWithReference) {
    const auto& q = expected()["query"];
    for (const std::string name : {"hf_vit_f32", "hf_deit_f32", "timm_f32", "hf_vit_bf16"}) {
        Classifier clf(fixture(name), {Precision::F32, 1});
        const ModelSpec& s = clf.spec();
        TokenLayout lay{s.n_prefix, s.grid_h(), s.grid_w()};
        for (auto& [img, want] : expected()["models"][name]["images"].items()) {
            Explained e = clf.explain(decode_image(fixture("images/" + img)));
            for (const std::string f : {"mean", "max", "min"})
                expect_map(rollout(e.attention, lay, parse_fusion(f)), want["rollout"][f], name + " rollout " + f);
            expect_map(attention_map(e.attention, lay), want["attention_last_mean"], name + " attention last");
            expect_map(attention_map(e.attention, lay, 0), want["attention_first_mean"], name + " attention first");
            expect_map(attention_map(e.attention, lay, -2), want["attention_first_mean"], name + " layer -2");
            expect_map(query_map(e.attention, lay, q[0], q[1]), want["query_last_mean"], name + " query");
        }
    }
}

// Hand-made attention: 1 prefix token, a 1x3 grid, 1 layer, 1 head.
TEST(AttentionMaps, DiscardRatioZeroesLowestButNotClassToClass) {
    Tensor att({1, 1, 4, 4});
    const float a[16] = {0.01f, 0.5f, 0.3f, 0.19f,  //
                         0.25f, 0.25f, 0.25f, 0.25f,  //
                         0.1f, 0.2f, 0.3f, 0.4f,      //
                         0.4f, 0.3f, 0.2f, 0.1f};
    std::copy(a, a + 16, att.data());
    TokenLayout lay{1, 1, 3};
    // r = 0: row 0 of (A + I) normalised = [1.01, .5, .3, .19] / 2 -> patches .5 .3 .19 -> / .5
    AttentionMap m0 = rollout(att, lay, Fusion::Mean, 0.f);
    EXPECT_NEAR(m0.values[0], 1.f, 1e-6);
    EXPECT_NEAR(m0.values[1], 0.6f, 1e-6);
    EXPECT_NEAR(m0.values[2], 0.38f, 1e-6);
    // r = 0.25: the 4 lowest entries are 0.01 (kept: [0,0]), 0.1, 0.1, 0.19 -> 0.19 is zeroed in row 0
    AttentionMap m1 = rollout(att, lay, Fusion::Mean, 0.25f);
    EXPECT_NEAR(m1.values[0], 1.f, 1e-6);
    EXPECT_NEAR(m1.values[1], 0.6f, 1e-6);
    EXPECT_NEAR(m1.values[2], 0.f, 1e-6);
}

TEST(AttentionMaps, PrefixTokensAreExcluded) {
    // 2 prefix tokens; the class token attends mostly to the distillation token.
    Tensor att({1, 2, 6, 6});
    for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) att[(h * 6 + i) * 6 + j] = (j == 1 ? 0.9f : 0.02f) + (j == 4 ? 0.01f : 0.f);
    AttentionMap m = attention_map(att, {2, 2, 2}, -1, -1);
    ASSERT_EQ(m.values.size(), 4u);
    EXPECT_FLOAT_EQ(m.values[2], 1.f);  // token 4 = patch (1, 0)
    EXPECT_NEAR(m.values[0], 0.02f / 0.03f, 1e-6);
    EXPECT_THROW(attention_map(att, {2, 2, 2}, 1), ArgumentError);      // layer out of range
    EXPECT_THROW(attention_map(att, {2, 2, 2}, 0, 2), ArgumentError);   // head out of range
    EXPECT_THROW(query_map(att, {2, 2, 2}, 2, 0), ArgumentError);       // patch outside grid
    EXPECT_THROW(attention_map(att, {1, 2, 2}), ArgumentError);         // wrong T
}

// A map hot in one patch lights up the pixels that patch saw in the
// original image, under resize + center crop.
TEST(AttentionMaps, OverlayLandsOnTheRightPixels) {
    Preprocess p;
    p.resize = Preprocess::Resize::ShortestEdge;
    p.edge = 256;
    p.center_crop = true;
    p.crop_w = p.crop_h = 224;
    cv::Mat img(300, 600, CV_8UC3, cv::Scalar(0, 0, 0));  // resized to 512x256, crop x 144..368, y 16..240
    Geometry g;
    resize_and_crop(img, p, &g);
    AttentionMap m;
    m.rows = m.cols = 14;  // patch 16
    m.values.assign(196, 0.f);
    m.values[3 * 14 + 10] = 1.f;  // patch row 3, col 10: crop pixels x 160..176, y 48..64
    cv::Mat mask;
    cv::Mat up = map_to_original(m, g, &mask);
    // centre of that patch in original pixels: resized (144 + 168, 16 + 56) * 300/256
    double s = 300.0 / 256.0;
    cv::Point hot(int((144 + 168) * s), int((16 + 56) * s));
    double mx;
    cv::Point where;
    cv::minMaxLoc(up, nullptr, &mx, nullptr, &where);
    EXPECT_GT(up.at<float>(hot), 0.9f);
    EXPECT_LE(std::abs(where.x - hot.x), 10);
    EXPECT_LE(std::abs(where.y - hot.y), 10);
    // the cropped-away border is not coloured
    EXPECT_EQ(mask.at<uchar>(150, 10), 0);
    EXPECT_EQ(mask.at<uchar>(150, 590), 0);
    EXPECT_EQ(mask.at<uchar>(150, 300), 255);
    cv::Mat ov = render_overlay(img, m, g, {Colormap::Turbo, 0.6f, false});
    EXPECT_EQ(ov.at<cv::Vec3b>(150, 10), cv::Vec3b(0, 0, 0));
    EXPECT_NE(ov.at<cv::Vec3b>(hot), cv::Vec3b(0, 0, 0));
}

TEST(AttentionMaps, GalleryHasEveryLayerAndHead) {
    Classifier clf(fixture("hf_vit_f32"), {Precision::F32, 1});
    cv::Mat rgb = decode_image(fixture("images/img0.png"));
    Explained e = clf.explain(rgb);
    const ModelSpec& s = clf.spec();
    auto maps = gallery(e.attention, {s.n_prefix, s.grid_h(), s.grid_w()});
    ASSERT_EQ(maps.size(), size_t(s.layers * s.heads));
    EXPECT_NEAR(*std::max_element(maps[4].values.begin(), maps[4].values.end()), 1.f, 1e-6);
    std::vector<std::string> labels;
    for (int l = 0; l < s.layers; ++l)
        for (int h = 0; h < s.heads; ++h) labels.push_back("L" + std::to_string(l) + " H" + std::to_string(h));
    cv::Mat tiles = render_tiles(rgb, maps, labels, e.geometry, s.heads, 64);
    EXPECT_EQ(tiles.cols, 3 * (64 + 4) + 4);
    EXPECT_EQ(tiles.rows, 2 * (64 + 18 + 4) + 4);
}

TEST(AttentionMaps, ClipOutliersAndNormReport) {
    AttentionMap m;
    m.rows = 1;
    m.cols = 10;
    m.values = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.2f, 1.0f};
    clip_outliers(m, 90.f);  // the 90th percentile of 10 values is 0.2
    EXPECT_FLOAT_EQ(m.values[9], 1.f);
    EXPECT_FLOAT_EQ(m.values[0], 0.5f);
    Tensor norms({1, 5});
    float n[5] = {1, 1, 1, 10, 1};
    std::copy(n, n + 5, norms.data());
    auto r = token_norm_report(norms);
    EXPECT_EQ(r[0].outliers, std::vector<int>{3});
    EXPECT_FLOAT_EQ(r[0].median, 1.f);
}
