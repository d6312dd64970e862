// d logit_c / d attention of every layer (Encoder::attention_gradients): a
// forward pass that keeps each block's inputs and QKV, then the backward pass
// from the chosen logit down to layer 0's attention, on oneDNN primitives:
// matmuls with the weights untransposed (dX = dY W) and the attention
// operands as strided, transposed views; softmax, LayerNorm and GELU backward.
// Only gradients with respect to activations are formed, never to weights.
//
// Shapes as in encoder.h: M = B*T rows of width D; the MLP is `mlp` wide.
#include <cstring>
#include <initializer_list>
#include <string>
#include <unordered_map>

#include "encoder_parts.h"
#include "vitlens/errors.h"
#include "vitlens/maps/map_spec.h"

namespace vitlens {

using namespace detail;

namespace detail {

// The forward's weights in (out, in) order, f32, for dX = dY W.
struct BlockBack {
    Tensor qkv, proj, fc1, fc2;
    const float* fc1_b = nullptr;  // (mlp): fc1's pre-activation is recomputed
};

struct Backward {
    std::vector<BlockBack> blocks;
    Tensor head, head2;  // (K, F)
    // The forward's activations, per layer: block input, QKV, block middle.
    Tensor x_in, qkv, x_mid;  // (L, M, D), (L, M, 3D), (L, M, D)
    Tensor x_last;            // (M, D): after the last block
    // Primitives by shape, made on first use (making one JIT-compiles a kernel).
    std::unordered_map<std::string, dnnl::primitive> prims;
};

}  // namespace detail

namespace {

memory mem(const memory::desc& md, const dnnl::engine& e, const void* p) {
    return memory(md, e, const_cast<void*>(p));
}
memory::desc rows(int64_t m, int64_t n) { return memory::desc({m, n}, dt::f32, tag::ab); }

template <class Make>
dnnl::primitive& cached(Encoder::Impl& m, const std::string& key, Make make) {
    auto& prims = m.backward->prims;
    auto it = prims.find(key);
    if (it == prims.end()) it = prims.emplace(key, make()).first;
    return it->second;
}

std::string key_of(const char* what, std::initializer_list<int64_t> dims) {
    std::string k = what;
    for (int64_t d : dims) k += " " + std::to_string(d);
    return k;
}

// y (M, in) = dy (M, out) W (out, in).
void matmul_dx(Encoder::Impl& m, const float* dy, const Tensor& W, float* y, int64_t M) {
    const int64_t out = W.dim(0), in = W.dim(1);
    auto& mm = cached(m, key_of("dx", {M, out, in}), [&] {
        return dnnl::matmul(
            dnnl::matmul::primitive_desc(dnnl::matmul::desc(rows(M, out), rows(out, in), rows(M, in)), m.eng));
    });
    mm.execute(m.strm, {{DNNL_ARG_SRC, mem(rows(M, out), m.eng, dy)},
                        {DNNL_ARG_WEIGHTS, mem(rows(out, in), m.eng, W.data())},
                        {DNNL_ARG_DST, mem(rows(M, in), m.eng, y)}});
}

// u (M, out) = x (M, in) W^T + b, W (out, in): fc1 before its GELU.
void matmul_xwt(Encoder::Impl& m, const float* x, const Tensor& W, const float* b, float* u, int64_t M) {
    const int64_t out = W.dim(0), in = W.dim(1);
    memory::desc wt({in, out}, dt::f32, tag::ba), bias({1, out}, dt::f32, tag::ab);
    auto& mm = cached(m, key_of("xwt", {M, out, in}), [&] {
        return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(rows(M, in), wt, bias, rows(M, out)), m.eng));
    });
    mm.execute(m.strm, {{DNNL_ARG_SRC, mem(rows(M, in), m.eng, x)}, {DNNL_ARG_WEIGHTS, mem(wt, m.eng, W.data())},
                        {DNNL_ARG_BIAS, mem(bias, m.eng, b)}, {DNNL_ARG_DST, mem(rows(M, out), m.eng, u)}});
}

// dx (R, D) = d LayerNorm(x) / dx applied to dy (R, D), scale and shift `p`.
void layer_norm_backward(Encoder::Impl& m, const ModelSpec& s, const float* x, const float* dy, float* dx, int64_t R,
                         const std::pair<memory, memory>& p) {
    const int64_t D = s.hidden;
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    memory::desc md = rows(R, D), stat({R}, dt::f32, tag::a);
    dnnl::layer_normalization_forward::primitive_desc fwd(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, md, s.eps, flags), m.eng);
    auto& f = cached(m, key_of("ln_f", {R}), [&] { return dnnl::layer_normalization_forward(fwd); });
    auto& b = cached(m, key_of("ln_b", {R}), [&] {
        return dnnl::layer_normalization_backward(dnnl::layer_normalization_backward::primitive_desc(
            dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, md, md, s.eps, flags), m.eng, fwd));
    });
    memory src = mem(md, m.eng, x), mean(stat, m.eng), var(stat, m.eng), y(md, m.eng);
    memory dscale({{D}, dt::f32, tag::a}, m.eng), dshift({{D}, dt::f32, tag::a}, m.eng);
    f.execute(
        m.strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, y}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var},
                 {DNNL_ARG_SCALE, p.first}, {DNNL_ARG_SHIFT, p.second}});
    b.execute(
        m.strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, mem(md, m.eng, dy)}, {DNNL_ARG_MEAN, mean},
                 {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_SCALE, p.first}, {DNNL_ARG_SHIFT, p.second},
                 {DNNL_ARG_DIFF_SRC, mem(md, m.eng, dx)}, {DNNL_ARG_DIFF_SCALE, dscale}, {DNNL_ARG_DIFF_SHIFT, dshift}});
}

// gu (M, F) = gelu'(u) * g, elementwise.
void gelu_backward(Encoder::Impl& m, const ModelSpec& s, const float* u, const float* g, float* gu, int64_t M,
                   int64_t F) {
    const auto alg = s.hidden_act == "gelu" ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_gelu_tanh;
    memory::desc md = rows(M, F);
    auto& bwd = cached(m, key_of("gelu", {M, F}), [&] {
        dnnl::eltwise_forward::primitive_desc fwd(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f), m.eng);
        return dnnl::eltwise_backward(
            dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(alg, md, md, 0.f, 0.f), m.eng, fwd));
    });
    bwd.execute(m.strm, {{DNNL_ARG_SRC, mem(md, m.eng, u)},
                                                 {DNNL_ARG_DIFF_DST, mem(md, m.eng, g)},
                                                 {DNNL_ARG_DIFF_SRC, mem(md, m.eng, gu)}});
}

// Views of one batch's attention operands, (B, H, rows, cols) each.
struct AttnViews {
    memory::desc heads;     // (B, H, T, d) inside a (M, D) buffer
    memory::desc qkv_part;  // (B, H, T, d) inside a (M, 3D) buffer (Q, K or V at an offset)
    memory::desc qkv_t;     // (B, H, d, T): the same, transposed
    memory::desc probs;     // (B, H, T, T)
    memory::desc probs_t;   // (B, H, T, T) transposed
};

AttnViews attn_views(const ModelSpec& s, int B) {
    const int64_t T = s.tokens(), D = s.hidden, H = s.heads, d = s.head_dim();
    return {memory::desc({B, H, T, d}, dt::f32, memory::dims{T * D, d, D, 1}),
            memory::desc({B, H, T, d}, dt::f32, memory::dims{T * 3 * D, d, 3 * D, 1}),
            memory::desc({B, H, d, T}, dt::f32, memory::dims{T * 3 * D, d, 1, 3 * D}),
            memory::desc({B, H, T, T}, dt::f32, tag::abcd),
            memory::desc({B, H, T, T}, dt::f32, memory::dims{H * T * T, T * T, 1, T})};
}

// dst = scale * a b, each operand a (B, H, ., .) view; `name` tells the
// product apart from the others of the same batch.
void batched_matmul(Encoder::Impl& m, const char* name, const memory::desc& a, const void* pa, const memory::desc& b,
                    const void* pb, const memory::desc& c, void* pc, float scale = 1.f) {
    auto& mm = cached(m, key_of(name, {a.dims()[0]}), [&] {
        dnnl::primitive_attr attr;
        if (scale != 1.f) attr.set_output_scales(0, {scale});
        return dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, m.eng));
    });
    mm.execute(m.strm, {{DNNL_ARG_SRC, mem(a, m.eng, pa)}, {DNNL_ARG_WEIGHTS, mem(b, m.eng, pb)},
                        {DNNL_ARG_DST, mem(c, m.eng, pc)}});
}

// dS (R, T) = A * (dA - rowsum(A * dA)): the softmax backward given the
// probabilities A, row by row. A loop, not oneDNN's softmax backward: on
// AVX2 oneDNN 2.6 has only its reference kernel for it, 11.6 ms of a 138 ms
// ViT-Ti attribution pass (ONEDNN_VERBOSE), against about 1 ms here.
void softmax_backward(const float* A, const float* dA, float* dS, int64_t R, int64_t T) {
    for (int64_t r = 0; r < R; ++r) {
        const float* a = A + r * T;
        const float* g = dA + r * T;
        const float dot = float(lane_dot(a, g, T));
        float* o = dS + r * T;
        for (int64_t j = 0; j < T; ++j) o[j] = a[j] * (g[j] - dot);
    }
}

void add_into(float* dst, const float* src, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

namespace {

// The f32 (out, in) copies of every weight the backward multiplies by.
std::shared_ptr<Backward> make_backward(Encoder::Impl& m, const ModelSpec& s) {
    auto b = std::make_shared<Backward>();
    for (const Block& blk : m.blocks) {
        BlockBack bb;
        bb.qkv = blk.qkv.plain_weights(m.strm);
        bb.proj = blk.proj.plain_weights(m.strm);
        bb.fc1 = blk.fc1.plain_weights(m.strm);
        bb.fc2 = blk.fc2.plain_weights(m.strm);
        bb.fc1_b = blk.fc1.bias();
        b->blocks.push_back(std::move(bb));
    }
    b->head = m.head.plain_weights(m.strm);
    if (s.distilled_heads) b->head2 = m.head2.plain_weights(m.strm);
    return b;
}

Tensor& sized(Tensor& t, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (t.numel() == n && !t.borrowed()) t.reshape(std::move(shape));  // a view is never written through
    else t = Tensor::uninitialized(std::move(shape));
    return t;
}

// The forward pass of Encoder::forward with `out` as its capture, keeping
// each block's input, QKV and middle besides.
void record_forward(Encoder::Impl& m, Backward& bk, const ModelSpec& s, const float* patches, int B, float* logits,
                    AttentionCapture& cap) {
    auto it = m.plans.find(B);
    if (it == m.plans.end()) it = m.plans.emplace(B, make_plan(m.eng, s, B, Precision::F32)).first;
    Plan& p = it->second;
    prepare_capture(p, s, B, cap, m.eng);
    const int64_t L = s.layers, M = int64_t(B) * s.tokens(), D = s.hidden;
    sized(bk.x_in, {L, M, D});
    sized(bk.qkv, {L, M, 3 * D});
    sized(bk.x_mid, {L, M, D});
    sized(bk.x_last, {M, D});
    StageTimes unused{};
    StageClock clock(false, m.strm, unused);
    m.embed(p, s, patches, B);
    for (int64_t l = 0; l < L; ++l) {
        m.strm.wait();
        std::memcpy(bk.x_in.data() + l * M * D, p.x.data(), sizeof(float) * M * D);
        m.attention_block(p, s, int(l), true, clock);
        m.strm.wait();
        std::memcpy(bk.qkv.data() + l * M * 3 * D, p.qkv.data(), sizeof(float) * M * 3 * D);
        std::memcpy(bk.x_mid.data() + l * M * D, p.x.data(), sizeof(float) * M * D);
        m.mlp_block(p, s, int(l), clock);
        m.strm.wait();
        row_norms(p.x.data(), M, D, cap.token_norms.data() + l * M);
    }
    std::memcpy(bk.x_last.data(), p.x.data(), sizeof(float) * M * D);
    m.pool_and_head(p, s, logits);
}

// dX (M, D) = d logit[b, classes[b]] / d x_last: the head(s), the final
// LayerNorm and the pooling, backwards.
void head_backward(Encoder::Impl& m, const Backward& bk, const ModelSpec& s, int B, const int* classes, float* dX) {
    const int64_t T = s.tokens(), D = s.hidden, N = s.patches(), np = s.n_prefix, M = B * T;
    const int nh = s.distilled_heads ? 2 : 1;
    std::memset(dX, 0, sizeof(float) * M * D);
    const int64_t F = s.head_in();
    Tensor dpooled({nh * int64_t(B), D}), pooled({nh * int64_t(B), D}), dnormed({nh * int64_t(B), F});
    for (int h = 0; h < nh; ++h)  // d logit / d normed pooled row = the class's head row (halved for two heads)
        for (int b = 0; b < B; ++b) {
            const float* w = (h == 0 ? bk.head : bk.head2).data() + int64_t(classes[b]) * F;
            for (int64_t k = 0; k < F; ++k) dnormed[(h * B + b) * F + k] = w[k] / float(nh);
        }
    const float* x = bk.x_last.data();
    if (s.global_pool == "cls_avg" || (s.global_pool == "avg" && !s.fc_norm)) {  // every token normed, then pooled
        Tensor dh({M, D});
        for (int b = 0; b < B; ++b) {
            const float* dmean = dnormed.data() + b * F + F - D;  // the patch mean's half
            if (s.global_pool == "cls_avg") std::memcpy(dh.data() + b * T * D, dnormed.data() + b * F, sizeof(float) * D);
            for (int64_t t = np; t < T; ++t)
                for (int64_t k = 0; k < D; ++k) dh[(b * T + t) * D + k] = dmean[k] / float(N);
        }
        layer_norm_backward(m, s, x, dh.data(), dX, M, m.norm);
        m.strm.wait();
        return;
    }
    if (s.global_pool == "avg") {  // patches averaged, then fc_norm
        for (int b = 0; b < B; ++b)
            for (int64_t k = 0; k < D; ++k) {
                double acc = 0;
                for (int64_t t = np; t < T; ++t) acc += x[(b * T + t) * D + k];
                pooled[b * D + k] = float(acc / N);
            }
        layer_norm_backward(m, s, pooled.data(), dnormed.data(), dpooled.data(), B, m.fc_norm);
        m.strm.wait();
        for (int b = 0; b < B; ++b)
            for (int64_t t = np; t < T; ++t)
                for (int64_t k = 0; k < D; ++k) dX[(b * T + t) * D + k] = dpooled[b * D + k] / float(N);
        return;
    }
    for (int h = 0; h < nh; ++h)  // class (and distillation) token, normed
        for (int b = 0; b < B; ++b) std::memcpy(pooled.data() + (h * B + b) * D, x + (b * T + h) * D, sizeof(float) * D);
    layer_norm_backward(m, s, pooled.data(), dnormed.data(), dpooled.data(), nh * B, s.fc_norm ? m.fc_norm : m.norm);
    m.strm.wait();
    for (int h = 0; h < nh; ++h)
        for (int b = 0; b < B; ++b) add_into(dX + (b * T + h) * D, dpooled.data() + (h * B + b) * D, D);
}

// Scratch for one backward pass.
struct Grads {
    Tensor h, dh, u, g, dctx, dqkv, dS;
    Grads(const ModelSpec& s, int B) {
        const int64_t T = s.tokens(), D = s.hidden, M = B * T, F = s.mlp;
        h = Tensor::uninitialized({M, D});
        dh = Tensor::uninitialized({M, D});
        u = Tensor::uninitialized({M, F});
        g = Tensor::uninitialized({M, F});
        dctx = Tensor::uninitialized({M, D});
        dqkv = Tensor::uninitialized({M, 3 * D});
        dS = Tensor::uninitialized({int64_t(B) * s.heads * T, T});
    }
};

// dX: d x_out of block l on entry, d x_mid on return. x_out = x_mid + fc2(gelu(fc1(LN2(x_mid)))).
void mlp_backward(Encoder::Impl& m, const Backward& bk, const ModelSpec& s, int l, int B, float* dX, Grads& g) {
    const int64_t M = int64_t(B) * s.tokens(), D = s.hidden, F = s.mlp;
    const BlockBack& w = bk.blocks[size_t(l)];
    const float* x_mid = bk.x_mid.data() + l * M * D;
    m.ln.forward(m.strm, x_mid, g.h.data(), M, m.blocks[size_t(l)].ln2);
    matmul_xwt(m, g.h.data(), w.fc1, w.fc1_b, g.u.data(), M);
    matmul_dx(m, dX, w.fc2, g.g.data(), M);
    gelu_backward(m, s, g.u.data(), g.g.data(), g.g.data(), M, F);
    matmul_dx(m, g.g.data(), w.fc1, g.dh.data(), M);
    layer_norm_backward(m, s, x_mid, g.dh.data(), g.h.data(), M, m.blocks[size_t(l)].ln2);
    m.strm.wait();
    add_into(dX, g.h.data(), M * D);
}

// dX: d x_mid of block l on entry, d x_in on return (unless l == 0, where
// only dA is needed). x_mid = x_in + proj(A V), A = softmax(Q K^T / sqrt(d)).
// dA (B, H, T, T) is written to `dA`.
void attention_backward(Encoder::Impl& m, const Backward& bk, const ModelSpec& s, int l, int B, const float* A,
                        float* dA, float* dX, Grads& g) {
    const int64_t T = s.tokens(), D = s.hidden, M = int64_t(B) * T, H = s.heads;
    const BlockBack& w = bk.blocks[size_t(l)];
    const float* qkv = bk.qkv.data() + l * M * 3 * D;
    const AttnViews v = attn_views(s, B);
    matmul_dx(m, dX, w.proj, g.dctx.data(), M);
    batched_matmul(m, "dA", v.heads, g.dctx.data(), v.qkv_t, qkv + 2 * D, v.probs, dA);  // dA = dctx V^T
    if (l == 0) {
        m.strm.wait();
        return;
    }
    float* dq = g.dqkv.data();
    batched_matmul(m, "dV", v.probs_t, A, v.heads, g.dctx.data(), v.qkv_part, dq + 2 * D);  // dV = A^T dctx
    m.strm.wait();  // dA is read next, outside oneDNN
    softmax_backward(A, dA, g.dS.data(), int64_t(B) * H * T, T);
    const float scale = 1.f / std::sqrt(float(s.head_dim()));
    batched_matmul(m, "dQ", v.probs, g.dS.data(), v.qkv_part, qkv + D, v.qkv_part, dq, scale);    // dQ = dS K
    batched_matmul(m, "dK", v.probs_t, g.dS.data(), v.qkv_part, qkv, v.qkv_part, dq + D, scale);  // dK = dS^T Q
    matmul_dx(m, dq, w.qkv, g.dh.data(), M);
    const float* x_in = bk.x_in.data() + l * M * D;
    layer_norm_backward(m, s, x_in, g.dh.data(), g.h.data(), M, m.blocks[size_t(l)].ln1);
    m.strm.wait();
    add_into(dX, g.h.data(), M * D);
}

}  // namespace

void Encoder::attention_gradients(const float* patches, int B, int* classes, float* logits, AttentionGradients& out) {
    if (B <= 0) throw std::invalid_argument("Encoder::attention_gradients: batch size must be positive");
    if (const std::string why = precision_problem(MapMethod::Attribution, precision_); !why.empty()) throw ModelError(why);
    if (const std::string why = head_problem(spec_); !why.empty())
        throw ModelError(why + ": there is no class logit to attribute; use the class-agnostic maps (rollout, "
                               "attention, query)");
    Impl& m = *impl_;
    m.require_fits(spec_, B, precision_, MapNeed::Gradients);
    if (!m.backward) m.backward = make_backward(m, spec_);
    Backward& bk = *m.backward;
    const ModelSpec& s = spec_;
    const int64_t L = s.layers, T = s.tokens(), H = s.heads, M = int64_t(B) * T, K = s.num_classes;
    const auto t0 = std::chrono::steady_clock::now();
    for (int b = 0; b < B; ++b) check_class(classes[b], int(K), true);  // before anything is overwritten
    record_forward(m, bk, s, patches, B, logits, out);
    const auto t1 = std::chrono::steady_clock::now();
    for (int b = 0; b < B; ++b)
        if (classes[b] < 0) classes[b] = int(std::max_element(logits + b * K, logits + (b + 1) * K) - (logits + b * K));
    sized(out.grad, {L, B, H, T, T});
    Tensor dX = Tensor::uninitialized({M, s.hidden});
    Grads g(s, B);
    head_backward(m, bk, s, B, classes, dX.data());
    const int64_t per_layer = int64_t(B) * H * T * T;
    for (int l = int(L) - 1; l >= 0; --l) {
        mlp_backward(m, bk, s, l, B, dX.data(), g);
        attention_backward(m, bk, s, l, B, out.attention.data() + l * per_layer, out.grad.data() + l * per_layer,
                           dX.data(), g);
    }
    const auto t2 = std::chrono::steady_clock::now();
    out.forward_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    out.backward_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
}

}  // namespace vitlens
