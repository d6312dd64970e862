// One description of a checkpoint: dims, tokens, labels and preprocessing,
// read from HF config.json (+ preprocessor_config.json) or a timm config.json
// with pretrained_cfg (dims then come from the tensors).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vitlens {

class SafeTensors;

// Weight naming convention of a checkpoint.
enum class Naming { HfVit, HfDeit, HfDinov2, Timm };
const char* naming_name(Naming n);

// PIL resampling filters (the values HF writes as `resample`).
enum class Interp { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };
const char* interp_name(Interp i);

// How an image becomes the model's input. Steps in order: resize, center
// crop, rescale, normalise.
struct Preprocess {
    // LongestEdge: keep the aspect ratio, fit inside resize_w x resize_h (timm ResizeKeepRatio, longest=1)
    enum class Resize { None, Exact, ShortestEdge, LongestEdge };
    Resize resize = Resize::Exact;
    int resize_h = 224, resize_w = 224;  // Exact
    int edge = 0;                        // ShortestEdge target
    Interp interp = Interp::Bilinear;
    bool center_crop = false;
    bool pad_to_crop = false;            // timm crop_mode=border: pad with pad_fill when smaller; else pads are 0
    std::array<uint8_t, 3> pad_fill{0, 0, 0};  // RGB: timm's round(255 * mean), from the config's doubles
    bool crop_round_half_even = false;   // torchvision CenterCrop rounding vs HF floor
    int crop_h = 224, crop_w = 224;
    float rescale = 1.0f / 255.0f;       // applied to 8-bit values (1.0 if do_rescale is false)
    std::array<float, 3> mean{0.5f, 0.5f, 0.5f};
    std::array<float, 3> std{0.5f, 0.5f, 0.5f};
    std::string source;                  // "preprocessor_config.json", "pretrained_cfg", "defaults"
    float crop_pct = 0;                  // timm pretrained_cfg: resize = floor(input / crop_pct)
    std::string crop_mode;               // timm: "center", "squash" or "border"

    std::string describe() const;        // one line for `vitlens info`
};

// How a position embedding is resampled to another patch grid: bicubic as
// torch.nn.functional.interpolate does it (align_corners=False), plain (HF
// interpolate_pos_encoding) or antialiased (timm resample_abs_pos_embed).
enum class PosResample { Bicubic, BicubicAntialias };

struct ModelSpec {
    std::string dir;
    std::string architecture;   // architectures[0] or timm `architecture`
    Naming naming = Naming::HfVit;
    int hidden = 0;             // D
    int layers = 0;             // L
    int heads = 0;              // H
    int mlp = 0;                // MLP hidden width
    int image_h = 0, image_w = 0;
    int patch = 0;              // P
    int channels = 3;           // C
    int num_classes = 0;        // 0: a backbone without a classifier head
    int n_prefix = 1;           // class (+ distillation, + register) tokens before the patches
    int registers = 0;          // register tokens among the prefix (timm reg_token)
    bool distilled_heads = false;  // DeiT with teacher: logits = mean of two heads
    bool qkv_bias = true;
    float eps = 1e-12f;
    std::string hidden_act = "gelu";
    // "token": the class token; "avg": the patch mean; "cls_avg": the class
    // token and the patch mean side by side (HF Dinov2ForImageClassification).
    std::string global_pool = "token";
    bool fc_norm = false;               // timm: norm after pooling instead of before
    bool layer_scale = false;           // LayerScale (DeiT III, DINOv2): folded into proj and fc2 at load
    bool multi_label = false;           // independent sigmoid per class (problem_type multi_label_classification)
    // The checkpoint's position embedding: its patch grid and whether it has
    // rows for the prefix tokens (timm no_embed_class models have none). It
    // is resampled when the input grid differs.
    int pos_grid_h = 0, pos_grid_w = 0;
    bool pos_has_prefix = true;
    PosResample pos_resample = PosResample::Bicubic;
    std::vector<std::string> labels;    // num_classes entries
    Preprocess pre;

    int grid_h() const { return image_h / patch; }
    int grid_w() const { return image_w / patch; }
    int patches() const { return grid_h() * grid_w(); }   // N
    int tokens() const { return n_prefix + patches(); }   // T
    int head_dim() const { return hidden / heads; }       // d
    bool has_head() const { return num_classes > 0; }
    int head_in() const { return global_pool == "cls_avg" ? 2 * hidden : hidden; }  // F, the head's input width
    int patch_dim() const { return channels * patch * patch; }
    int64_t parameters() const;
    double gflops() const;  // 2 x MACs of every matmul per image
};

// The one head rule: "" when `s` has a classifier head, else the fact, naming
// the model ("DIR: ARCH has no classifier head (a backbone)"); callers say
// what that rules out and how to go on.
std::string head_problem(const ModelSpec& s);

// The one class-range rule: throws ArgumentError ("class 12 is out of range:
// the model has 10 classes (0..9)") unless 0 <= cls < num_classes, or cls is
// -1 (the top-1) when `top1_allowed`.
void check_class(int cls, int num_classes, bool top1_allowed);


// Hard bounds on config values, checked before anything is allocated.
struct SpecLimits {
    int max_hidden = 8192, max_layers = 256, max_heads = 256, max_mlp = 65536;
    int max_image = 4096, max_classes = 1000000, max_tokens = 65536;
};

// Reads `dir`/config.json (+ preprocessor_config.json). `weights` supplies
// dims that timm configs omit. Throws ModelError naming the file and key.
ModelSpec read_model_spec(const std::string& dir, const SafeTensors& weights, const SpecLimits& limits = {});

// The parsers alone, on text (used by read_model_spec, tests and fuzzers).
// `weights` may be null for HF configs.
ModelSpec parse_model_config(const std::string& config_text, const std::string& config_name,
                             const SafeTensors* weights, const SpecLimits& limits = {});
Preprocess parse_preprocessor_config(const std::string& text, const std::string& name,
                                     const ModelSpec& spec);

// Runs the model at h x w pixels instead of its native size: the patch grid
// follows, the position embedding is resampled at load, and preprocessing
// resizes and crops to h x w (timm: from crop_pct, as timm's data config
// does; HF: the crop, or the exact resize, becomes h x w and a shortest-edge
// resize scales with it). Throws ArgumentError when h or w is not a multiple
// of the patch size or is out of range.
void set_input_size(ModelSpec& spec, int h, int w, const SpecLimits& limits = {});

}  // namespace vitlens
