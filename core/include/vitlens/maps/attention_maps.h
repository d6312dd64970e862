// Attention maps: pure functions of the encoder's attention probabilities
// (drawing them is map_render.h; choosing one is map_spec.h).
//
// `att` is one image's attention, (L, H, T, T), T = n_prefix + N; maps cover
// the N patch tokens only (prefix tokens still take part in the products)
// and come out as a (grid_h, grid_w) grid, rows = image rows, max 1.
#pragma once

#include <string>
#include <vector>

#include "vitlens/model/tensor.h"

namespace vitlens {

enum class Fusion { Mean, Max, Min };
Fusion parse_fusion(const std::string& s);  // throws ArgumentError
const char* fusion_name(Fusion f);

// Where the patch tokens are and how they tile the image.
struct TokenLayout {
    int n_prefix = 1;
    int grid_h = 0, grid_w = 0;
    bool patch_mean_readout = false;  // the head reads the mean of the patch tokens (avg pooling)
    int registers = 0;                // the last `registers` prefix tokens are registers (labelled reg0..)
};

struct AttentionMap {
    int rows = 0, cols = 0;
    std::vector<float> values;  // rows * cols, row-major, max 1 (all 0 if the row is 0)
    float at(int r, int c) const { return values[size_t(r) * cols + c]; }
};

// Attention rollout (Abnar & Zuidema 2020): A_l = fuse_heads(att[l]); the
// lowest `discard` fraction of A_l's entries is zeroed (never [0,0]);
// Ahat_l = (A_l + I) with rows normalised; R = Ahat_{L-1} ... Ahat_0;
// map = R[0, patches].
AttentionMap rollout(const Tensor& att, const TokenLayout& lay, Fusion fusion = Fusion::Mean, float discard = 0.f);

// Class-specific attribution (Chefer, Gur, Wolf, ICCV 2021): with A_l one
// image's attention (L, H, T, T) and dA_l = d logit_c / d A_l (`grad`, the
// same shape, from Encoder::attention_gradients), Abar_l = mean over heads of
// max(0, dA_l * A_l); R = I; R = R + Abar_l R for l = 0 .. L-1; map = R[0, patches],
// the class token's row, or with lay.patch_mean_readout the mean of the
// patch rows (what an average-pooling head reads).
AttentionMap attribution(const Tensor& att, const Tensor& grad, const TokenLayout& lay);

// Row `query_token` of one layer's attention (head >= 0, or heads fused),
// over the patch tokens. layer < 0 counts from the end.
AttentionMap attention_row(const Tensor& att, const TokenLayout& lay, int layer, int head, Fusion fusion,
                           int query_token);
// The class token's row.
AttentionMap attention_map(const Tensor& att, const TokenLayout& lay, int layer = -1, int head = -1,
                           Fusion fusion = Fusion::Mean);
// Where patch (row, col) looks.
AttentionMap query_map(const Tensor& att, const TokenLayout& lay, int row, int col, int layer = -1, int head = -1,
                       Fusion fusion = Fusion::Mean);
// Every layer x head class-token map, layer-major.
std::vector<AttentionMap> gallery(const Tensor& att, const TokenLayout& lay);

// Caps a map at its `percentile` (0..100) value and rescales to max 1:
// keeps a few high-norm outlier tokens from washing out the rest.
void clip_outliers(AttentionMap& m, float percentile = 99.f);

// Token norms (L, T) -> per layer the outlier tokens: norm > factor x median
// of the patch tokens.
struct LayerNorms {
    float median = 0, max = 0;
    std::vector<int> outliers;  // token indices (prefix tokens included)
};
std::vector<LayerNorms> token_norm_report(const Tensor& norms, float factor = 3.f);

}  // namespace vitlens
