// Maps a checkpoint's naming convention (HF ViT, HF DeiT, timm) to the
// encoder's weight slots, checking every shape against the ModelSpec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vitlens/model/model_config.h"
#include "vitlens/model/tensor.h"
#include "vitlens/model/weights.h"

namespace vitlens {

// One encoder block. Linear weights are (out, in) as in PyTorch.
struct BlockWeights {
    Tensor ln1_w, ln1_b;    // (D)      layernorm_before / norm1
    Tensor qkv_w, qkv_b;    // (3D, D), (3D): rows Q, then K, then V
    Tensor proj_w, proj_b;  // (D, D)   attention.output.dense / attn.proj
    Tensor ln2_w, ln2_b;    // (D)      layernorm_after / norm2
    Tensor fc1_w, fc1_b;    // (MLP, D) intermediate.dense / mlp.fc1
    Tensor fc2_w, fc2_b;    // (D, MLP) output.dense / mlp.fc2
};

struct EncoderWeights {
    Tensor patch_w, patch_b;  // (D, C*P*P) flattened conv weight, (D)
    Tensor prefix;            // (n_prefix, D): class (+ distillation, + register) tokens
    Tensor pos;               // (T, D)
    std::vector<BlockWeights> blocks;
    Tensor norm_w, norm_b;    // (D) final LayerNorm (before pooling)
    Tensor fc_norm_w, fc_norm_b;  // (D) timm fc_norm (after pooling), may be empty
    Tensor head_w, head_b;    // (K, D), (K)
    Tensor head2_w, head2_b;  // distillation head, may be empty
};

// Reads every weight for `spec` from `st`. Throws ModelError naming the
// tensor with "has shape [..], expected [..]" or "is missing".
EncoderWeights load_encoder_weights(const SafeTensors& st, const ModelSpec& spec);
// The same in two parts, so a loader can stream blocks one at a time:
// everything but the blocks (w.blocks stays empty), then block `layer`.
// With Borrow::Views, F32 tensors are read-only views of st's mapping (no
// copy; see SafeTensors::view_f32): use them before `st` is destroyed.
enum class Borrow { Copies, Views };
EncoderWeights load_top_weights(const SafeTensors& st, const ModelSpec& spec, Borrow borrow = Borrow::Copies);
BlockWeights load_block_weights(const SafeTensors& st, const ModelSpec& spec, int layer,
                                Borrow borrow = Borrow::Copies);

// A loaded checkpoint directory: spec + weights.
struct Checkpoint {
    ModelSpec spec;
    EncoderWeights weights;
};

// Loads `dir` (config.json + model.safetensors [+ preprocessor_config.json]).
Checkpoint load_checkpoint(const std::string& dir);
// Checks that `dir` is a model directory and maps its model.safetensors.
SafeTensors open_checkpoint(const std::string& dir);

}  // namespace vitlens
