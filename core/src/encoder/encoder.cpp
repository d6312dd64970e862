#include "vitlens/encoder/encoder.h"

#include <cstdlib>

#include "encoder_parts.h"
#include "vitlens/errors.h"

namespace vitlens {

using namespace detail;

const char* precision_name(Precision p) {
    return p == Precision::BF16 ? "bf16" : p == Precision::Int8 ? "int8" : "f32";
}

bool parse_precision(const std::string& name, Precision& out) {
    for (Precision p : {Precision::F32, Precision::BF16, Precision::Int8})
        if (name == precision_name(p)) {
            out = p;
            return true;
        }
    return false;
}

std::string int8_path() { return int8_isa_name(); }

bool cpu_has_bf16() {
    // oneDNN reports the ISA it dispatches to; bf16 kernels need AVX512-BF16 or AMX.
    auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

const char* stage_name(int s) {
    static const char* names[kStageCount] = {"patch_embed", "layernorm", "qkv",        "scores", "softmax",
                                             "context",     "projection", "mlp",       "head"};
    return s >= 0 && s < kStageCount ? names[s] : "?";
}

Encoder::Encoder(const ModelSpec& spec, const EncoderWeights& w, Precision precision)
    : Encoder(spec, w, [&w](int l) { return w.blocks.at(l); }, precision) {}

Encoder::Encoder(const ModelSpec& spec, const EncoderWeights& w, const BlockLoader& block, Precision precision)
    : spec_(spec), precision_(precision), impl_(std::make_unique<Impl>()) {
    if (precision == Precision::BF16 && !cpu_has_bf16())
        throw ModelError("bf16 was requested, but this CPU has no AVX512-BF16 or AMX; use f32");
    Impl& m = *impl_;
    auto gelu = spec.hidden_act == "gelu" ? Linear::Post::Gelu : Linear::Post::GeluTanh;
    // int8 leaves the patch embedding in f32: one matmul of K = C*P*P on N rows, a few percent
    // of the FLOPs, and the layer the quantisation literature finds most sensitive.
    const Precision patch_prec = precision == Precision::Int8 ? Precision::F32 : precision;
    m.patch = Linear(m.eng, m.strm, w.patch_w, w.patch_b, Linear::Post::None, patch_prec);
    auto scratch = std::make_shared<Int8Scratch>();
    m.ln = LayerNorm(m.eng, spec.hidden, spec.eps);
    m.blocks.resize(spec.layers);
    for (int l = 0; l < spec.layers; ++l) {
        const BlockWeights bw = block(l);
        Block& b = m.blocks[l];
        b.ln1 = m.ln.params(bw.ln1_w, bw.ln1_b);
        b.ln2 = m.ln.params(bw.ln2_w, bw.ln2_b);
        b.qkv = Linear(m.eng, m.strm, bw.qkv_w, bw.qkv_b, Linear::Post::None, precision, scratch);
        b.proj = Linear(m.eng, m.strm, bw.proj_w, bw.proj_b, Linear::Post::Residual, precision, scratch);
        b.fc1 = Linear(m.eng, m.strm, bw.fc1_w, bw.fc1_b, gelu, precision, scratch);
        b.fc2 = Linear(m.eng, m.strm, bw.fc2_w, bw.fc2_b, Linear::Post::Residual, precision, scratch);
    }
    m.has_norm = !w.norm_w.empty();
    if (m.has_norm) m.norm = m.ln.params(w.norm_w, w.norm_b);
    if (!w.fc_norm_w.empty()) m.fc_norm = m.ln.params(w.fc_norm_w, w.fc_norm_b);
    // The head runs on a handful of rows: f32 keeps the logits exact at no real cost.
    if (spec.has_head()) m.head = Linear(m.eng, m.strm, w.head_w, w.head_b, Linear::Post::None, Precision::F32);
    if (spec.distilled_heads) m.head2 = Linear(m.eng, m.strm, w.head2_w, w.head2_b, Linear::Post::None, Precision::F32);
    m.prefix = w.prefix;
    m.pos = w.pos;
}

Encoder::~Encoder() = default;

void Encoder::set_profiling(bool on) {
    profiling_on_ = on;
}

Plan detail::make_plan(dnnl::engine& eng, const ModelSpec& s, int B, Precision prec) {
    const int64_t T = s.tokens(), D = s.hidden, H = s.heads, N = s.patches(), M = B * T;
    const int nh = s.distilled_heads ? 2 : 1;
    const bool bf16 = prec == Precision::BF16;  // Q, K, V, the probabilities for AV and the context in bf16
    Plan p;
    p.B = B;
    p.x = Tensor({M, D});
    p.h = Tensor({M, D});
    p.scores = Tensor({B, H, T, T});
    p.pe = Tensor({B * N, D});
    p.pooled = Tensor({nh * B, D});
    p.pooled_n = Tensor({nh * B, int64_t(s.head_in())});
    p.logits2 = Tensor({int64_t(B), int64_t(s.num_classes)});
    if (bf16) {
        p.qkv16 = memory({{M, 3 * D}, dt::bf16, tag::ab}, eng);
        p.probs16 = memory({{B, H, T, T}, dt::bf16, tag::abcd}, eng);
        p.ctx16 = memory({{M, D}, dt::bf16, tag::ab}, eng);
        p.mid16 = memory({{M, int64_t(s.mlp)}, dt::bf16, tag::ab}, eng);
    } else {
        p.qkv = Tensor({M, 3 * D});
        p.ctx = Tensor({M, D});
        if (prec != Precision::Int8) p.mid = Tensor({M, int64_t(s.mlp)});  // int8 keeps it quantised (Int8Scratch)
    }

    make_attention_primitives(p, eng, s, B, prec);
    return p;
}

// The attention's matmuls, softmax and memories, over the plan's buffers.
void detail::make_attention_primitives(Plan& p, dnnl::engine& eng, const ModelSpec& s, int B, Precision prec) {
    const int64_t T = s.tokens(), D = s.hidden, H = s.heads, d = s.head_dim();
    const bool bf16 = prec == Precision::BF16;
    const dt adt = bf16 ? dt::bf16 : dt::f32;
    // Q, K^T and V as strided views of the (B*T, 3D) QKV buffer: no copies.
    memory::desc q_md({B, H, T, d}, adt, memory::dims{T * 3 * D, d, 3 * D, 1});
    memory::desc kt_md({B, H, d, T}, adt, memory::dims{T * 3 * D, d, 1, 3 * D});
    memory::desc v_md({B, H, T, d}, adt, memory::dims{T * 3 * D, d, 3 * D, 1});
    memory::desc s_md({B, H, T, T}, dt::f32, tag::abcd);
    memory::desc p_md({B, H, T, T}, adt, tag::abcd);
    memory::desc ctx_md({B, H, T, d}, adt, memory::dims{T * D, d, D, 1});  // into (B*T, D)

    dnnl::primitive_attr sattr;
    sattr.set_output_scales(0, {1.0f / std::sqrt(float(d))});
    p.score_mm = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(q_md, kt_md, s_md), sattr, eng));
    p.ctx_mm = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(p_md, v_md, ctx_md), eng));
    memory::desc flat({B * H * T, T}, dt::f32, tag::ab);
    p.softmax = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, flat, 1), eng));
    if (bf16) {
        memory::desc flat16({B * H * T, T}, dt::bf16, tag::ab);
        p.softmax_bf16 = dnnl::softmax_v2_forward(dnnl::softmax_v2_forward::primitive_desc(
            dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, flat,
                                           flat16, 1),
            eng));
        p.probs_to_bf16 = dnnl::reorder(dnnl::reorder::primitive_desc(eng, s_md, eng, p_md));
    }

    void* qkv = bf16 ? p.qkv16.get_data_handle() : p.qkv.data();
    const size_t esz = bf16 ? 2 : 4;
    p.q_mem = memory(q_md, eng, qkv);
    p.k_mem = memory(kt_md, eng, static_cast<char*>(qkv) + D * esz);
    p.v_mem = memory(v_md, eng, static_cast<char*>(qkv) + 2 * D * esz);
    p.scores_mem = memory(s_md, eng, p.scores.data());
    p.ctx_mem = memory(ctx_md, eng, bf16 ? p.ctx16.get_data_handle() : p.ctx.data());
    p.bf16 = bf16;
    p.qkv_act = {qkv, adt};
    p.ctx_act = {bf16 ? p.ctx16.get_data_handle() : p.ctx.data(), adt};
    p.mid_act = {bf16 ? p.mid16.get_data_handle() : p.mid.data(), adt};
}

// Sizes the caller's capture buffers (L, B, H, T, T) and (L, B, T), reusing
// them when the size holds, and points the plan's per-layer score memories
// into them, so the softmax writes the attention where the caller reads it.
void detail::prepare_capture(Plan& p, const ModelSpec& s, int B, AttentionCapture& c, const dnnl::engine& eng) {
    const int64_t L = s.layers, H = s.heads, T = s.tokens();
    auto fit = [](Tensor& t, std::vector<int64_t> shape) {  // every element is written by forward
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        if (t.numel() == n && !t.borrowed()) t.reshape(std::move(shape));
        else t = Tensor::uninitialized(std::move(shape));
    };
    fit(c.attention, {L, B, H, T, T});
    fit(c.token_norms, {L, B, T});
    if (p.capture_base == c.attention.data()) return;
    p.capture_mems.clear();
    for (int64_t l = 0; l < L; ++l)
        p.capture_mems.emplace_back(p.scores_mem.get_desc(), eng, c.attention.data() + l * B * H * T * T);
    p.capture_base = c.attention.data();
}

namespace {

// The softmax of the scores, in place, then (bf16) the probabilities for the
// context matmul; fused into one primitive when nobody reads the f32 ones.
memory softmax_step(Plan& p, dnnl::stream& st, memory scores, bool captured) {
    if (p.bf16 && !captured) {
        p.softmax_bf16.execute(st, {{DNNL_ARG_SRC, scores}, {DNNL_ARG_DST, p.probs16}});
        return p.probs16;
    }
    p.softmax.execute(st, {{DNNL_ARG_SRC, scores}, {DNNL_ARG_DST, scores}});
    if (!p.bf16) return scores;
    p.probs_to_bf16.execute(st, scores, p.probs16);
    return p.probs16;
}

}  // namespace

// x (B*T, D) <- [prefix tokens, patch embeddings] + position embedding.
void Encoder::Impl::embed(Plan& p, const ModelSpec& spec_, const float* patches, int B) {
    Impl& m = *this;
    const int64_t T = spec_.tokens(), D = spec_.hidden, N = spec_.patches(), np = spec_.n_prefix;
    m.patch.forward(m.strm, patches, p.pe.data(), B * N);
    m.strm.wait();
    float* x = p.x.data();
    const float* pos = m.pos.data();
    for (int b = 0; b < B; ++b) {
        float* xb = x + b * T * D;
        for (int64_t t = 0; t < np; ++t)
            for (int64_t k = 0; k < D; ++k) xb[t * D + k] = m.prefix[t * D + k] + pos[t * D + k];
        const float* pe = p.pe.data() + b * N * D;
        for (int64_t t = 0; t < N; ++t)
            for (int64_t k = 0; k < D; ++k) xb[(np + t) * D + k] = pe[t * D + k] + pos[(np + t) * D + k];
    }
}

// x += proj(softmax(Q K^T / sqrt(d)) V), Q K V = split(qkv(LN1(x))).
// Leaves LN1(x) in p.h, which nothing after the LayerNorm writes (trace_block reads it).
void Encoder::Impl::attention_block(Plan& p, const ModelSpec& spec_, int l, bool captured, StageClock& clock) {
    Impl& m = *this;
    Block& blk = m.blocks[l];
    dnnl::stream& st = m.strm;
    const int64_t M = int64_t(p.B) * spec_.tokens();
    m.ln.forward(st, p.x.data(), p.h.data(), M, blk.ln1);
    clock.mark(kLayerNorm);
    blk.qkv.forward(st, p.h.data(), dt::f32, p.qkv_act.ptr, p.qkv_act.type, M);
    clock.mark(kQKV);
    memory scores = captured ? p.capture_mems[size_t(l)] : p.scores_mem;  // a handle: cheap to copy
    p.score_mm.execute(st, {{DNNL_ARG_SRC, p.q_mem}, {DNNL_ARG_WEIGHTS, p.k_mem}, {DNNL_ARG_DST, scores}});
    clock.mark(kScores);
    memory probs = softmax_step(p, st, scores, captured);
    clock.mark(kSoftmax);
    p.ctx_mm.execute(st, {{DNNL_ARG_SRC, probs}, {DNNL_ARG_WEIGHTS, p.v_mem}, {DNNL_ARG_DST, p.ctx_mem}});
    clock.mark(kContext);
    blk.proj.forward(st, p.ctx_act.ptr, p.ctx_act.type, p.x.data(), dt::f32, M);
    clock.mark(kProjection);
}

// x += fc2(gelu(fc1(LN2(x)))).
// Leaves LN2(x) in p.h, which nothing after the LayerNorm writes (trace_block reads it).
void Encoder::Impl::mlp_block(Plan& p, const ModelSpec& spec_, int l, StageClock& clock) {
    Impl& m = *this;
    Block& blk = m.blocks[l];
    const int64_t M = int64_t(p.B) * spec_.tokens();
    m.ln.forward(m.strm, p.x.data(), p.h.data(), M, blk.ln2);
    clock.mark(kLayerNorm);
    if (Int8Linear* fc1 = blk.fc1.int8()) {  // GELU's output goes to fc2 quantised, never as f32
        Int8Scratch& sc = fc1->scratch();
        if (sc.mid.size() < size_t(M * spec_.mlp)) sc.mid.resize(size_t(M * spec_.mlp));
        if (sc.mid_s.size() < size_t(M)) sc.mid_s.resize(size_t(M));
        fc1->forward_quantized(m.strm, p.h.data(), sc.mid.data(), sc.mid_s.data(), M);
        blk.fc2.int8()->forward_from_quantized(m.strm, sc.mid.data(), sc.mid_s.data(), p.x.data(), true, M);
        clock.mark(kMLP);
        return;
    }
    blk.fc1.forward(m.strm, p.h.data(), dt::f32, p.mid_act.ptr, p.mid_act.type, M);
    blk.fc2.forward(m.strm, p.mid_act.ptr, p.mid_act.type, p.x.data(), dt::f32, M);
    clock.mark(kMLP);
}

// Final LayerNorm and pooling into p.pooled_n (nh * B, F): the class (and
// distillation) tokens, the patch mean, or the class token and the patch
// mean side by side.
void Encoder::Impl::pool(Plan& p, const ModelSpec& s) {
    Impl& m = *this;
    dnnl::stream& st = m.strm;
    const int B = p.B;
    const int64_t T = s.tokens(), D = s.hidden, N = s.patches(), np = s.n_prefix, M = B * T, F = s.head_in();
    const int nh = s.distilled_heads ? 2 : 1;
    st.wait();
    float* x = p.x.data();
    float* pooled = p.pooled.data();
    auto patch_mean = [&](const float* src, int b, float* dst) {
        for (int64_t k = 0; k < D; ++k) {
            double acc = 0;
            for (int64_t t = np; t < T; ++t) acc += src[(b * T + t) * D + k];
            dst[k] = static_cast<float>(acc / N);
        }
    };
    if (s.global_pool == "cls_avg" || (s.global_pool == "avg" && !s.fc_norm)) {  // every token normed first
        m.ln.forward(st, x, p.h.data(), M, m.norm);
        st.wait();
        const float* h = p.h.data();
        for (int b = 0; b < B; ++b) {
            float* dst = p.pooled_n.data() + b * F;
            if (s.global_pool == "cls_avg") std::memcpy(dst, h + b * T * D, sizeof(float) * D);
            patch_mean(h, b, dst + F - D);
        }
    } else if (s.global_pool == "avg") {  // patches averaged, then fc_norm
        for (int b = 0; b < B; ++b) patch_mean(x, b, pooled + b * D);
        m.ln.forward(st, pooled, p.pooled_n.data(), B, m.fc_norm);
    } else {
        for (int h = 0; h < nh; ++h)
            for (int b = 0; b < B; ++b) std::memcpy(pooled + (h * B + b) * D, x + (b * T + h) * D, sizeof(float) * D);
        m.ln.forward(st, pooled, p.pooled_n.data(), nh * B, s.fc_norm ? m.fc_norm : m.norm);
    }
    st.wait();
}

// The head(s) on the pooled rows; a distilled model averages its two heads.
void Encoder::Impl::pool_and_head(Plan& p, const ModelSpec& s, float* logits) {
    Impl& m = *this;
    pool(p, s);
    if (!s.has_head()) return;
    const int B = p.B;
    const int64_t K = s.num_classes;
    m.head.forward(m.strm, p.pooled_n.data(), logits, B);
    if (s.distilled_heads) {
        m.head2.forward(m.strm, p.pooled_n.data() + B * s.hidden, p.logits2.data(), B);
        m.strm.wait();
        for (int64_t i = 0; i < B * K; ++i) logits[i] = 0.5f * (logits[i] + p.logits2[i]);
    }
    m.strm.wait();
}

// The normed tokens and the pooled rows (after pool()).
void Encoder::Impl::features(Plan& p, const ModelSpec& s, Features& f) {
    const int B = p.B;
    const int64_t T = s.tokens(), D = s.hidden, M = B * T, F = s.head_in();
    if (f.tokens.numel() != M * D || f.tokens.borrowed()) f.tokens = Tensor::uninitialized({B, T, D});
    f.tokens.reshape({B, T, D});
    if (has_norm) {
        ln.forward(strm, p.x.data(), f.tokens.data(), M, norm);
        strm.wait();
    } else {
        std::memcpy(f.tokens.data(), p.x.data(), sizeof(float) * M * D);
    }
    if (f.pooled.numel() != B * F || f.pooled.borrowed()) f.pooled = Tensor::uninitialized({B, F});
    f.pooled.reshape({B, F});
    const float* src = p.pooled_n.data();
    for (int64_t i = 0; i < B * F; ++i) f.pooled[i] = s.distilled_heads ? 0.5f * (src[i] + src[B * D + i]) : src[i];
}

namespace {

// The plan for batch size B, made on first use.
Plan& plan_for(Encoder::Impl& m, const ModelSpec& spec, int B, Precision prec) {
    auto it = m.plans.find(B);
    if (it == m.plans.end()) it = m.plans.emplace(B, make_plan(m.eng, spec, B, prec)).first;
    return it->second;
}

}  // namespace

void Encoder::forward(const float* patches, int B, float* logits, AttentionCapture* capture, Features* features) {
    if (B <= 0) throw std::invalid_argument("Encoder::forward: batch size must be positive");
    if (!logits && spec_.has_head()) throw std::invalid_argument("Encoder::forward: logits is null");
    Impl& m = *impl_;
    m.require_fits(spec_, B, precision_, capture ? MapNeed::Capture : MapNeed::None);
    Plan& p = plan_for(m, spec_, B, precision_);
    StageClock clock(profiling_on_, m.strm, times_);
    if (capture) prepare_capture(p, spec_, B, *capture, m.eng);

    m.embed(p, spec_, patches, B);
    clock.mark(kPatchEmbed);
    const int64_t M = int64_t(B) * spec_.tokens();
    for (int l = 0; l < spec_.layers; ++l) {
        m.attention_block(p, spec_, l, capture != nullptr, clock);
        m.mlp_block(p, spec_, l, clock);
        if (capture) {  // the residual stream's token norms after block l
            m.strm.wait();
            row_norms(p.x.data(), M, spec_.hidden, capture->token_norms.data() + l * M);
        }
    }
    m.pool_and_head(p, spec_, logits);
    if (features) m.features(p, spec_, *features);
    clock.mark(kHead);
}

// forward()'s two steps for one block on the caller's hidden states, copying
// out the LayerNorm each step leaves in p.h and the residual stream after it.
BlockTrace Encoder::trace_block(int layer, const float* x, int B) {
    if (B <= 0) throw std::invalid_argument("Encoder::trace_block: batch size must be positive");
    if (!x) throw std::invalid_argument("Encoder::trace_block: x is null");
    if (layer < 0 || layer >= spec_.layers)
        throw ArgumentError("layer " + std::to_string(layer) + " is out of range: the model has " +
                            std::to_string(spec_.layers) + " layers (0.." + std::to_string(spec_.layers - 1) + ")");
    Impl& m = *impl_;
    m.require_fits(spec_, B, precision_, MapNeed::None);
    Plan& p = plan_for(m, spec_, B, precision_);
    const int64_t T = spec_.tokens(), D = spec_.hidden;
    const size_t bytes = sizeof(float) * size_t(B * T * D);
    std::memcpy(p.x.data(), x, bytes);
    StageTimes unused{};
    StageClock clock(false, m.strm, unused);
    auto copy_out = [&](const Tensor& from) {
        Tensor t = Tensor::uninitialized({B, T, D});
        std::memcpy(t.data(), from.data(), bytes);
        return t;
    };
    BlockTrace out;
    m.attention_block(p, spec_, layer, false, clock);
    m.strm.wait();
    out.ln1 = copy_out(p.h);
    out.attention = copy_out(p.x);
    m.mlp_block(p, spec_, layer, clock);
    m.strm.wait();
    out.ln2 = copy_out(p.h);
    out.output = copy_out(p.x);
    return out;
}

}  // namespace vitlens
