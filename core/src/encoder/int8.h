// int8 linear layers: weights quantised once per output channel (symmetric
// s8), activations per token at run time (dynamic, symmetric, stored as u8
// with an offset of 128 so that every ISA runs oneDNN's native u8 x s8
// kernel), s32 accumulation, then one f32 pass that undoes the offset and
// the two scales and adds the bias. Private to core/.
//
// Why per token and dynamic: a token's activations after LayerNorm and GELU
// range over two orders of magnitude between tokens; one scale per token
// keeps each token's resolution, costs one pass over the row, and needs no
// calibration file to go stale. Measured on the bundled model and the
// fixtures (tests/core/int8_test.cpp, README "int8").
//
// Saturation: without VNNI (AVX2, AVX-512 without VNNI) oneDNN multiplies
// u8 x s8 pairs with vpmaddubsw, whose 16-bit pair sums saturate at 32767
// (255 * 127 * 2 = 64770 does not fit). There the weights are quantised to
// 7 bits (|q| <= 63: 255 * 63 * 2 = 32130 fits), as ONNX Runtime's
// reduce_range does; VNNI (vpdpbusd) and AMX accumulate in 32 bits.
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "vitlens/model/tensor.h"

namespace vitlens::detail {

// True when oneDNN's effective ISA (ONEDNN_MAX_CPU_ISA respected) has no
// 32-bit u8 x s8 accumulation (no AVX-VNNI, AVX512-VNNI or AMX).
bool int8_reduced_range();
// The name of the int8 path oneDNN's ISA gives: "AMX", "AVX512-VNNI",
// "AVX-VNNI", or "AVX2 (7-bit weights)" and the like.
std::string int8_isa_name();

// w (out, in) f32 -> q (out, in) s8 row-major, scale (out), colsum (out) = sum_k q[n, k].
struct QuantizedMatrix {
    std::vector<int8_t> q;
    std::vector<float> scale;
    std::vector<int32_t> colsum;
};
QuantizedMatrix quantize_weights(const Tensor& w, bool reduced_range);

// Per-token activation quantisation: x (M, K) f32 -> a (M, K) u8 = round(x / s[m]) + 128,
// s[m] = max|x[m, :]| / 127 (1 for an all-zero row).
void quantize_rows(const float* x, int64_t M, int64_t K, uint8_t* a, float* s);

// y (M, N) [+]= (acc[m, n] - 128 colsum[n]) * s[m] * wscale[n] + bias[n];
// acc (M, N) s32 from the u8 x s8 matmul. `accumulate`: add into y (a residual).
void dequantize_rows(const int32_t* acc, int64_t M, int64_t N, const float* s, const QuantizedMatrix& w,
                     const float* bias, float* y, bool accumulate);

// Scratch every int8 Linear of one encoder shares (they run one at a time).
struct Int8Scratch {
    std::vector<uint8_t> a;    // (R, in): one row tile's quantised input
    std::vector<float> s;      // (R): its scales
    std::vector<int32_t> acc;  // (R, out): its u8 x s8 sums
    std::vector<float> f;      // (R, out): its f32 output, when the output is quantised again
    std::vector<uint8_t> mid;  // (M, mlp): the MLP's GELU output, quantised for fc2
    std::vector<float> mid_s;  // (M)
};

// y = act(x W^T + b) [+ y], on int8 primitives, in tiles of kTileRows rows so
// that a tile's sums, f32 values and quantised copy stay in the L2 cache.
class Int8Linear {
public:
    enum class Act { None, GeluErf, GeluTanh };
    static constexpr int64_t kTileRows = 128;

    // w (out, in), b (out) f32, as in the checkpoint.
    Int8Linear(const dnnl::engine& eng, dnnl::stream& s, const Tensor& w, const Tensor& b, Act act,
               std::shared_ptr<Int8Scratch> scratch);

    // x (M, in) f32 -> y (M, out) f32; `accumulate` adds into y (a residual).
    void forward(dnnl::stream& s, const float* x, float* y, bool accumulate, int64_t M);
    // x (M, in) f32 -> act(x W^T + b) quantised per token into a (M, out) u8 and sa (M).
    void forward_quantized(dnnl::stream& s, const float* x, uint8_t* a, float* sa, int64_t M);
    // a (M, in) u8 with scales sa (M), as forward_quantized() writes them -> y (M, out) f32.
    void forward_from_quantized(dnnl::stream& s, const uint8_t* a, const float* sa, float* y, bool accumulate,
                                int64_t M);

    Tensor plain_weights(dnnl::stream& s) const;  // (out, in) f32: q * scale, what the int8 layer multiplies by
    const float* bias() const { return bias_.data(); }
    Int8Scratch& scratch() { return *scratch_; }

private:
    struct Tile {
        dnnl::matmul mm;
        dnnl::eltwise_forward act;
        dnnl::memory::desc src_md, dst_md, f_md;
    };
    struct Source {
        const float* x = nullptr;  // f32 rows to quantise, or
        const uint8_t* a = nullptr;
        const float* sa = nullptr;  // rows quantised already
    };
    struct Sink {
        float* y = nullptr;  // f32 rows, or
        bool accumulate = false;
        uint8_t* a = nullptr;
        float* sa = nullptr;  // rows quantised again
    };
    void run(dnnl::stream& s, const Source& in, const Sink& out, int64_t M);
    Tile& tile(int64_t rows);
    dnnl::matmul::primitive_desc make_pd(int64_t rows) const;

    dnnl::engine eng_;
    int64_t in_ = 0, out_ = 0;
    Act act_ = Act::None;
    QuantizedMatrix qw_;  // scales and column sums (q itself lives reordered in w_mem_)
    std::vector<float> bias_;
    std::shared_ptr<void> w_buf_;
    dnnl::memory w_mem_;
    std::unordered_map<int64_t, Tile> tiles_;
    std::shared_ptr<Int8Scratch> scratch_;
};

}  // namespace vitlens::detail
