#include "vitlens/model/model_config.h"

#include <gtest/gtest.h>

#include "test_support.h"
#include "vitlens/errors.h"
#include "vitlens/model/weights.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

std::string error_of(const std::string& config) {
    try {
        parse_model_config(config, "config.json", nullptr);
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(ModelConfig, HfVitFixture) {
    SafeTensors st(fixture("hf_vit_f32/model.safetensors"));
    ModelSpec s = read_model_spec(fixture("hf_vit_f32"), st);
    EXPECT_EQ(s.naming, Naming::HfVit);
    EXPECT_EQ(s.hidden, 48);
    EXPECT_EQ(s.heads, 3);
    EXPECT_EQ(s.layers, 2);
    EXPECT_EQ(s.tokens(), 17);
    EXPECT_EQ(s.labels.size(), 7u);
    EXPECT_EQ(s.labels[2], "cat");
    EXPECT_FLOAT_EQ(s.eps, 1e-6f);
    EXPECT_EQ(s.pre.source, "preprocessor_config.json");
    EXPECT_FLOAT_EQ(s.pre.mean[1], 0.4f);
}

TEST(ModelConfig, DeitWithTeacherHasTwoPrefixTokens) {
    SafeTensors st(fixture("hf_deit_f32/model.safetensors"));
    ModelSpec s = read_model_spec(fixture("hf_deit_f32"), st);
    EXPECT_EQ(s.naming, Naming::HfDeit);
    EXPECT_TRUE(s.distilled_heads);
    EXPECT_EQ(s.n_prefix, 2);
    EXPECT_TRUE(s.pre.center_crop);
    EXPECT_EQ(s.pre.resize_h, 36);
    EXPECT_EQ(s.pre.interp, Interp::Bicubic);
}

TEST(ModelConfig, TimmDimsFromTensorsHeadsFromName) {
    SafeTensors st(fixture("timm_f16/model.safetensors"));
    ModelSpec s = read_model_spec(fixture("timm_f16"), st);
    EXPECT_EQ(s.naming, Naming::Timm);
    EXPECT_EQ(s.heads, 3);  // "tiny"
    EXPECT_EQ(s.hidden, 48);
    EXPECT_EQ(s.layers, 2);
    EXPECT_EQ(s.mlp, 96);
    EXPECT_EQ(s.patch, 8);
    EXPECT_FLOAT_EQ(s.eps, 1e-6f);
    EXPECT_EQ(s.pre.resize, Preprocess::Resize::ShortestEdge);
    EXPECT_EQ(s.pre.edge, 36);  // floor(32 / 0.875)
    EXPECT_TRUE(s.pre.crop_round_half_even);
    EXPECT_EQ(s.labels[6], "guitar");
}

TEST(ModelConfig, Id2LabelForms) {
    auto s = parse_model_config(R"({"architectures":["ViTForImageClassification"],"id2label":{"1":"b","0":"a"}})",
                                "c", nullptr);
    EXPECT_EQ(s.labels, (std::vector<std::string>{"a", "b"}));
    s = parse_model_config(R"({"architectures":["ViTForImageClassification"],"id2label":{"0":5,"1":7}})", "c", nullptr);
    EXPECT_EQ(s.labels, (std::vector<std::string>{"5", "7"}));
    EXPECT_NE(error_of(R"({"architectures":["ViTForImageClassification"],"id2label":{"0":"a","2":"c"}})")
                  .find("gap: index 1 is missing"),
              std::string::npos);
}

TEST(ModelConfig, BadConfigsAreRefusedWithKeyAndValue) {
    const std::string vit = R"("architectures":["ViTForImageClassification"],"num_labels":3)";
    EXPECT_NE(error_of("{" + vit + R"(,"hidden_size":1e9})").find("'hidden_size' = 1000000000.0 is out of range"),
              std::string::npos)
        << error_of("{" + vit + R"(,"hidden_size":1e9})");
    EXPECT_NE(error_of("{" + vit + R"(,"num_hidden_layers":100000})").find("out of range"), std::string::npos);
    EXPECT_NE(error_of("{" + vit + R"(,"hidden_size":"big"})").find("must be a number"), std::string::npos);
    EXPECT_NE(error_of("{" + vit + R"(,"hidden_size":100,"num_attention_heads":3})").find("not divisible"),
              std::string::npos);
    EXPECT_NE(error_of("{" + vit + R"(,"image_size":225})").find("not a multiple of patch_size"), std::string::npos);
    EXPECT_NE(error_of(R"({"architectures":["BertModel"]})").find("architecture 'BertModel' is not supported"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"foo":1})").find("neither 'architectures'"), std::string::npos);
    EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
    EXPECT_NE(error_of("{" + vit + R"(,"hidden_act":"relu"})").find("hidden_act 'relu'"), std::string::npos);
}

TEST(ModelConfig, PreprocessorForms) {
    ModelSpec s = parse_model_config(R"({"architectures":["ViTForImageClassification"],"num_labels":2})", "c", nullptr);
    Preprocess p = parse_preprocessor_config(R"({"size":224,"resample":3,"image_mean":0.5})", "p", s);
    EXPECT_EQ(p.resize, Preprocess::Resize::Exact);
    EXPECT_EQ(p.resize_w, 224);
    EXPECT_EQ(p.interp, Interp::Bicubic);
    p = parse_preprocessor_config(R"({"size":{"shortest_edge":256},"do_center_crop":true,"crop_size":224})", "p", s);
    EXPECT_EQ(p.resize, Preprocess::Resize::ShortestEdge);
    EXPECT_EQ(p.crop_h, 224);
    p = parse_preprocessor_config(R"({"do_rescale":false,"do_normalize":false})", "p", s);
    EXPECT_FLOAT_EQ(p.rescale, 1.f);
    EXPECT_FLOAT_EQ(p.std[0], 1.f);
    EXPECT_THROW(parse_preprocessor_config(R"({"size":{"height":200,"width":200}})", "p", s), ModelError);
}

// Dinov2Config: the MLP width is hidden_size x mlp_ratio, LayerScale, and the
// defaults of its own (patch 14, image 518, eps 1e-6); SwiGLU is refused.
TEST(ModelConfig, Dinov2DimsAndRefusals) {
    const std::string cfg = R"({"architectures": ["Dinov2Model"], "hidden_size": 384, "num_hidden_layers": 12,
                               "num_attention_heads": 6, "mlp_ratio": 4})";
    ModelSpec s = parse_model_config(cfg, "config.json", nullptr);
    EXPECT_EQ(s.naming, Naming::HfDinov2);
    EXPECT_EQ(s.mlp, 1536);
    EXPECT_EQ(s.patch, 14);
    EXPECT_EQ(s.image_h, 518);
    EXPECT_EQ(s.pos_grid_h, 37);
    EXPECT_FLOAT_EQ(s.eps, 1e-6f);
    EXPECT_TRUE(s.layer_scale);
    EXPECT_FALSE(s.has_head());
    const std::string swiglu = R"({"architectures": ["Dinov2Model"], "use_swiglu_ffn": true})";
    try {
        parse_model_config(swiglu, "config.json", nullptr);
        FAIL() << "SwiGLU accepted";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("use_swiglu_ffn"), std::string::npos) << e.what();
    }
}

// --input-size on a timm spec re-derives the resize from crop_pct, as timm does.
TEST(ModelConfig, InputSizeFollowsCropPct) {
    SafeTensors st(fixture("timm_f32/model.safetensors"));
    ModelSpec s = read_model_spec(fixture("timm_f32"), st);
    set_input_size(s, 48, 48);
    EXPECT_EQ(s.grid_h(), 6);
    EXPECT_EQ(s.pre.edge, 54);  // floor(48 / 0.875)
    EXPECT_EQ(s.pre.crop_h, 48);
    EXPECT_EQ(s.pos_grid_h, 4);
    set_input_size(s, 40, 56);
    EXPECT_EQ(s.pre.resize, Preprocess::Resize::Exact);
    EXPECT_EQ(s.pre.resize_w, 64);
    EXPECT_THROW(set_input_size(s, 44, 48), ArgumentError);
}
