// The encoder's building blocks, shared by the forward pass (encoder.cpp)
// and the backward pass (encoder_backward.cpp). Private to core/.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <set>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "vitlens/encoder/encoder.h"
#include "vitlens/encoder/memory_estimate.h"
#include "int8.h"

namespace vitlens {
namespace detail {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// Memory for reordered weights, its pages populated by the kernel in one call
// (MAP_POPULATE): loading writes every byte of it once, and a page fault per
// 4 KiB was a third of ViT-B's load time. (Transparent huge pages fault even
// less but made bf16 inference 10-25% slower here: 2 MiB physically
// contiguous weight blocks collide in the caches.)
inline std::shared_ptr<void> prefaulted_buffer(size_t bytes) {
    const size_t n = std::max<size_t>(bytes, 1);
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return std::shared_ptr<void>(p, [n](void* q) { ::munmap(q, n); });
}

// y = x W^T + b [+ GELU | + y (residual)]
// x is (M, in), W is (out, in) as in the checkpoint, y is (M, out).
// In bf16 the weights are bf16; x may be f32 (converted on the way in) or
// already bf16, and y f32 or bf16, so that a bf16 result feeding the next
// bf16 matmul is never widened and narrowed again.
class Linear {
public:
    enum class Post { None, Gelu, GeluTanh, Residual };

    Linear() = default;
    // In int8, `scratch` is the buffer every int8 Linear of the encoder shares (made here when null).
    Linear(const dnnl::engine& eng, dnnl::stream& s, const Tensor& w, const Tensor& b, Post post, Precision prec,
           std::shared_ptr<Int8Scratch> scratch = nullptr)
        : eng_(eng), in_(w.dim(1)), out_(w.dim(0)), post_(post), prec_(prec) {
        if (prec == Precision::Int8) {
            const auto act = post == Post::Gelu ? Int8Linear::Act::GeluErf
                             : post == Post::GeluTanh ? Int8Linear::Act::GeluTanh : Int8Linear::Act::None;
            int8_ = std::make_shared<Int8Linear>(eng, s, w, b, act,
                                                 scratch ? std::move(scratch) : std::make_shared<Int8Scratch>());
            return;
        }
        wdt_ = prec == Precision::BF16 ? dt::bf16 : dt::f32;
        // The checkpoint's (out, in) row-major matrix is W^T in (in, out) "ba" order.
        memory user_w({{in_, out_}, dt::f32, tag::ba}, eng_, const_cast<float*>(w.data()));
        // The preferred layout depends only on the shape and type: ask once per
        // shape (creating a primitive descriptor JIT-compiles a kernel).
        static thread_local std::map<std::tuple<int64_t, int64_t, int>, memory::desc> layouts;
        auto key = std::make_tuple(in_, out_, static_cast<int>(wdt_));
        auto it = layouts.find(key);
        if (it == layouts.end())
            it = layouts.emplace(key, make_pd(64, memory::desc({in_, out_}, wdt_, tag::any), wdt_, dt::f32).weights_desc())
                     .first;
        w_md_ = it->second;
        w_buf_ = prefaulted_buffer(w_md_.get_size());
        w_mem_ = memory(w_md_, eng_, w_buf_.get());
        dnnl::reorder(user_w, w_mem_).execute(s, user_w, w_mem_);
        b_mem_ = memory({{1, out_}, dt::f32, tag::ab}, eng_);
        std::memcpy(b_mem_.get_data_handle(), b.data(), sizeof(float) * out_);
        s.wait();
    }

    // x: (M, in) f32, y: (M, out) f32.
    void forward(dnnl::stream& s, const float* x, float* y, int64_t M) { forward(s, x, dt::f32, y, dt::f32, M); }

    // x: (M, in) of type xdt, y: (M, out) of type ydt (bf16 only with bf16 weights).
    void forward(dnnl::stream& s, const void* x, dt xdt, void* y, dt ydt, int64_t M) {
        if (int8_) return int8_->forward(s, static_cast<const float*>(x), static_cast<float*>(y), post_ == Post::Residual, M);
        if (wdt_ == dt::f32) xdt = ydt = dt::f32;
        Prim& p = get(M, xdt, ydt);
        memory dst(p.dst_md, eng_, y);
        memory src(p.src_md, eng_, const_cast<void*>(x));
        if (p.cvt) {
            p.cvt.execute(s, src, p.src16);
            src = p.src16;
        }
        p.mm.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_BIAS, b_mem_}, {DNNL_ARG_DST, dst}});
    }

    int64_t in() const { return in_; }
    int64_t out() const { return out_; }

    // W as the checkpoint has it, (out, in) row-major f32 (bf16-rounded when
    // the weights are bf16): the backward pass multiplies by W, not W^T.
    // In int8: the dequantised weights q * scale.
    Tensor plain_weights(dnnl::stream& s) const {
        if (int8_) return int8_->plain_weights(s);
        Tensor w = Tensor::uninitialized({out_, in_});
        memory plain({{in_, out_}, dt::f32, tag::ba}, eng_, w.data());
        memory src = w_mem_;
        dnnl::reorder(src, plain).execute(s, src, plain);
        s.wait();
        return w;
    }
    // b: (out).
    const float* bias() const { return int8_ ? int8_->bias() : static_cast<const float*>(b_mem_.get_data_handle()); }

    // The int8 layer (null in f32 and bf16), for the fused int8 MLP.
    Int8Linear* int8() const { return int8_.get(); }

private:
    struct Prim {
        dnnl::matmul mm;
        memory::desc src_md, dst_md;
        dnnl::reorder cvt;  // f32 -> bf16 of the input, when the input is f32 and the weights bf16
        memory src16;
    };

    dnnl::matmul::primitive_desc make_pd(int64_t M, const memory::desc& wmd, dt sdt, dt ddt) const {
        dnnl::primitive_attr attr;
        dnnl::post_ops po;
        if (post_ == Post::Gelu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
        if (post_ == Post::GeluTanh) po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
        if (post_ == Post::Residual) po.append_sum(1.f);
        attr.set_post_ops(po);
        memory::desc src({M, in_}, sdt, tag::ab), bias({1, out_}, dt::f32, tag::ab), dst({M, out_}, ddt, tag::ab);
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wmd, bias, dst), attr, eng_);
    }

    Prim& get(int64_t M, dt xdt, dt ydt) {
        const int64_t key = M * 4 + (xdt == dt::bf16 ? 2 : 0) + (ydt == dt::bf16 ? 1 : 0);
        auto it = by_shape_.find(key);
        if (it != by_shape_.end()) return it->second;
        Prim p;
        p.mm = dnnl::matmul(make_pd(M, w_md_, wdt_, ydt));
        p.src_md = memory::desc({M, in_}, xdt, tag::ab);
        p.dst_md = memory::desc({M, out_}, ydt, tag::ab);
        if (xdt != wdt_) {
            memory::desc src16_md({M, in_}, wdt_, tag::ab);
            p.src16 = memory(src16_md, eng_);
            p.cvt = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, p.src_md, eng_, src16_md));
        }
        return by_shape_.emplace(key, std::move(p)).first->second;
    }

    dnnl::engine eng_;
    int64_t in_ = 0, out_ = 0;
    Post post_ = Post::None;
    Precision prec_ = Precision::F32;
    dt wdt_ = dt::f32;
    memory::desc w_md_;
    std::shared_ptr<void> w_buf_;  // owns w_mem_'s storage (shared: Linear is copied into Block)
    memory w_mem_, b_mem_;
    std::unordered_map<int64_t, Prim> by_shape_;
    std::shared_ptr<Int8Linear> int8_;  // the int8 layer, when the precision is int8 (shared: Linear is copied)
};

// y = LayerNorm(x) * gamma + beta over the last axis. x, y are (M, D).
class LayerNorm {
public:
    LayerNorm() = default;
    LayerNorm(const dnnl::engine& eng, int64_t D, float eps) : eng_(eng), D_(D), eps_(eps) {}

    // Scale/shift memories made once per weight pair.
    std::pair<memory, memory> params(const Tensor& w, const Tensor& b) const {
        memory sc({{D_}, dt::f32, tag::a}, eng_), sh({{D_}, dt::f32, tag::a}, eng_);
        std::memcpy(sc.get_data_handle(), w.data(), sizeof(float) * D_);
        std::memcpy(sh.get_data_handle(), b.data(), sizeof(float) * D_);
        return {sc, sh};
    }

    void forward(dnnl::stream& s, const float* x, float* y, int64_t M, const std::pair<memory, memory>& p) {
        auto it = by_rows_.find(M);
        if (it == by_rows_.end()) {
            memory::desc md({M, D_}, dt::f32, tag::ab);
            dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md, eps_,
                                                      dnnl::normalization_flags::use_scale |
                                                          dnnl::normalization_flags::use_shift);
            it = by_rows_.emplace(M, dnnl::layer_normalization_forward(
                                         dnnl::layer_normalization_forward::primitive_desc(d, eng_)))
                     .first;
        }
        memory::desc md({M, D_}, dt::f32, tag::ab);
        memory src(md, eng_, const_cast<float*>(x)), dst(md, eng_, y);
        it->second.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, p.first},
                               {DNNL_ARG_SHIFT, p.second}});
    }

private:
    dnnl::engine eng_;
    int64_t D_ = 0;
    float eps_ = 1e-6f;
    std::unordered_map<int64_t, dnnl::layer_normalization_forward> by_rows_;
};

struct Block {
    std::pair<memory, memory> ln1, ln2;
    Linear qkv, proj, fc1, fc2;
};

// Buffers and attention primitives for one batch size.
// In bf16, QKV, the attention probabilities handed to the context matmul,
// the context and the MLP's hidden layer are bf16 (oneDNN-owned memories);
// the residual stream, LayerNorm and the scores stay f32.
struct Plan {
    int B = 0;
    Tensor x, h, qkv, scores, ctx, mid, pe, pooled, pooled_n, logits2;
    dnnl::matmul score_mm, ctx_mm;
    dnnl::softmax_forward softmax;          // f32 in place (f32 always; bf16 when capturing)
    dnnl::softmax_v2_forward softmax_bf16;  // f32 scores -> bf16 probabilities
    dnnl::reorder probs_to_bf16;            // after the in-place softmax, when capturing
    memory q_mem, k_mem, v_mem, scores_mem, ctx_mem;
    memory qkv16, probs16, ctx16, mid16;
    std::vector<memory> capture_mems;  // per layer, into the caller's capture buffer
    const float* capture_base = nullptr;
    // The matmul activations in the plan's precision, chosen once in make_plan.
    struct Act {
        void* ptr = nullptr;
        dt type = dt::f32;
    };
    Act qkv_act, ctx_act, mid_act;
    bool bf16 = false;
};

// a . b over n floats: 16 float lanes (vectorised), the tail and the lanes summed in double.
inline double lane_dot(const float* a, const float* b, int64_t n) {
    float lane[16] = {};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; ++j) lane[j] += a[k + j] * b[k + j];
    double acc = 0;
    for (; k < n; ++k) acc += double(a[k]) * b[k];
    for (float v : lane) acc += v;
    return acc;
}

// L2 norm of each of the M rows of x (M, D).
inline void row_norms(const float* x, int64_t M, int64_t D, float* out) {
    for (int64_t r = 0; r < M; ++r) out[r] = static_cast<float>(std::sqrt(lane_dot(x + r * D, x + r * D, D)));
}

class StageClock {
public:
    StageClock(bool on, dnnl::stream& s, StageTimes& t) : on_(on), s_(s), t_(t) { last_ = now(); }
    void mark(Stage st) {
        if (!on_) return;
        s_.wait();
        auto n = now();
        t_[st] += std::chrono::duration<double, std::milli>(n - last_).count();
        last_ = n;
    }

private:
    static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
    bool on_;
    dnnl::stream& s_;
    StageTimes& t_;
    std::chrono::steady_clock::time_point last_;
};

// The buffers and attention primitives for batch size B (encoder.cpp).
Plan make_plan(dnnl::engine& eng, const ModelSpec& s, int B, Precision prec);
void make_attention_primitives(Plan& p, dnnl::engine& eng, const ModelSpec& s, int B, Precision prec);
// Sizes `c` for batch B and points the plan's per-layer scores into it.
void prepare_capture(Plan& p, const ModelSpec& s, int B, AttentionCapture& c, const dnnl::engine& eng);

struct Backward;  // encoder_backward.cpp

}  // namespace detail

struct Encoder::Impl {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    detail::Linear patch, head, head2;
    detail::LayerNorm ln;
    std::vector<detail::Block> blocks;
    std::pair<dnnl::memory, dnnl::memory> norm, fc_norm;
    bool has_norm = false;  // the final LayerNorm (absent when timm has only fc_norm)
    Tensor prefix, pos;
    std::map<int, detail::Plan> plans;
    std::shared_ptr<detail::Backward> backward;  // made on the first attention_gradients()
    std::set<std::pair<int, MapNeed>> fits;       // (batch, map need) pairs checked against the memory

    // require_memory() once per batch size and map need, before any buffer of it is allocated.
    void require_fits(const ModelSpec& spec, int B, Precision prec, MapNeed need) {
        if (fits.count({B, need})) return;
        require_memory(spec, B, prec, need);
        fits.insert({B, need});
    }

    // The forward pass as named steps (Encoder::forward runs them in order).
    void embed(detail::Plan& p, const ModelSpec& spec, const float* patches, int B);
    void attention_block(detail::Plan& p, const ModelSpec& spec, int l, bool captured, detail::StageClock& clock);
    void mlp_block(detail::Plan& p, const ModelSpec& spec, int l, detail::StageClock& clock);
    void pool_and_head(detail::Plan& p, const ModelSpec& spec, float* logits);
    void pool(detail::Plan& p, const ModelSpec& spec);  // p.pooled_n: the head's input
    void features(detail::Plan& p, const ModelSpec& spec, Features& f);
};

}  // namespace vitlens
