// The ViT forward pass on oneDNN CPU primitives.
//
// Shape legend: B images, N = (H/P)*(W/P) patches, T = n_prefix + N tokens,
// D width, H heads, d = D/H head width, L layers, K classes.
// Activations are row-major (B*T, D) float buffers.
//
// Primitives are created once per batch size (and per row count for the
// linear layers) and reused; weights are reordered once, at construction,
// into the layouts the primitives prefer. By oneDNN's rules an Encoder is
// built and run on one thread: make it on the thread that will use it.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "vitlens/model/checkpoint.h"
#include "vitlens/model/model_config.h"
#include "vitlens/model/tensor.h"

namespace vitlens {

// Int8: the block matmuls (QKV, projection, MLP) on int8 primitives, weights
// s8 per output channel, activations quantised per token at run time; patch
// embedding, attention, LayerNorm, GELU, residual stream and head in f32.
enum class Precision { F32, BF16, Int8 };
const char* precision_name(Precision p);
// "f32" / "bf16" / "int8" -> Precision; false for anything else.
bool parse_precision(const std::string& name, Precision& out);
// The path int8 takes on this CPU: "AMX", "AVX512-VNNI", "AVX-VNNI", or
// "AVX2, no VNNI (7-bit weights)" (oneDNN's effective ISA, so
// ONEDNN_MAX_CPU_ISA applies).
std::string int8_path();
// True when this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX).
bool cpu_has_bf16();

// What the encoder hands back on request, besides the logits.
struct AttentionCapture {
    Tensor attention;    // (L, B, H, T, T): softmax(QK^T / sqrt(d)) of every layer
    Tensor token_norms;  // (L, B, T): L2 norm of each token after each block
};

// The model's features, for embeddings (F = the head's input width, D or 2D).
struct Features {
    Tensor tokens;  // (B, T, D): the last block's output after the final LayerNorm (raw when the model has only an fc_norm)
    Tensor pooled;  // (B, F): what the head reads (a distilled model: the mean of its two tokens, F = D)
};

// What attention_gradients() hands back.
struct AttentionGradients : AttentionCapture {  // attention (L, B, H, T, T), token_norms (L, B, T)
    Tensor grad;  // (L, B, H, T, T): d logit[b, class_b] / d attention, the logit before softmax
    double forward_ms = 0, backward_ms = 0;  // wall time of the last call's two passes
};

// One block's intermediates, as Encoder::trace_block() hands them back. All
// four are row-major (B, T, D) f32, whatever the encoder's precision.
// LayerScale (DeiT III, DINOv2) is folded into proj and fc2 at load, so
// `attention` and `output` include it exactly as forward() applies it.
struct BlockTrace {
    Tensor ln1;        // (B, T, D): LayerNorm 1 of the input
    Tensor attention;  // (B, T, D): input + attention(ln1), after the residual (ls1 included)
    Tensor ln2;        // (B, T, D): LayerNorm 2 of `attention`
    Tensor output;     // (B, T, D): attention + MLP(ln2) (ls2 included): the block's output
};

// Per-stage wall time of the last profiled forward, in milliseconds.
enum Stage { kPatchEmbed, kLayerNorm, kQKV, kScores, kSoftmax, kContext, kProjection, kMLP, kHead, kStageCount };
const char* stage_name(int s);
using StageTimes = std::array<double, kStageCount>;

class Encoder {
public:
    // Copies what it needs from `w` (reordered); `w` may be freed afterwards.
    Encoder(const ModelSpec& spec, const EncoderWeights& w, Precision precision = Precision::F32);
    // Streams the blocks: `top` holds everything but the blocks, `block(l)`
    // returns block l and is called once per layer, in order; each block's
    // f32 copy is freed as soon as it is reordered, so loading needs little
    // more memory than the reordered weights.
    using BlockLoader = std::function<BlockWeights(int layer)>;
    Encoder(const ModelSpec& spec, const EncoderWeights& top, const BlockLoader& block,
            Precision precision = Precision::F32);
    ~Encoder();
    Encoder(const Encoder&) = delete;
    Encoder& operator=(const Encoder&) = delete;

    // patches: (B, N, C*P*P) as written by patchify(); logits: (B, K), may
    // be null for a model without a head (spec().has_head() false).
    // With `capture`, its tensors are (re)shaped and filled, reusing their
    // storage when the element count is unchanged (callers may reshape them
    // in between); without, no attention copies are made. With `features`,
    // its tensors are (re)shaped and filled likewise.
    void forward(const float* patches, int B, float* logits, AttentionCapture* capture = nullptr,
                 Features* features = nullptr);

    // The gradient of one class logit per image with respect to every
    // layer's attention probabilities: a forward pass that keeps what the
    // backward needs, then the backward pass on oneDNN primitives.
    // patches: (B, N, C*P*P); classes: B class indices, -1 = that image's top-1
    // (replaced by the index taken); logits: (B, K) as forward() writes them.
    // A distilled model's logit is the mean of its two heads', as in forward().
    // f32 encoders only (ModelError otherwise); a class out of range throws ArgumentError.
    void attention_gradients(const float* patches, int B, int* classes, float* logits, AttentionGradients& out);

    // One block on given hidden states, for per-block tests and tools: the
    // same steps forward() runs for block `layer`, in the encoder's precision.
    // x: (B, T, D) row-major, the hidden states entering block `layer`
    // (T = spec().tokens(), D = spec().hidden). Returns four new (B, T, D)
    // tensors (see BlockTrace). A layer outside 0..L-1 throws ArgumentError;
    // B <= 0 or a null x, std::invalid_argument. Not counted in stage_times().
    BlockTrace trace_block(int layer, const float* x, int B);

    const ModelSpec& spec() const { return spec_; }
    Precision precision() const { return precision_; }

    // When on, forward() waits after each stage and accumulates stage_times().
    void set_profiling(bool on);
    const StageTimes& stage_times() const { return times_; }
    void reset_stage_times() { times_.fill(0.0); }

    struct Impl;  // opaque: the oneDNN state, in core/src/encoder/encoder_parts.h

private:
    ModelSpec spec_;
    Precision precision_;
    StageTimes times_{};
    bool profiling_on_ = false;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vitlens
