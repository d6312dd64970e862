#include "int8.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "encoder_parts.h"

namespace vitlens::detail {

bool int8_reduced_range() {
    using isa = dnnl::cpu_isa;
    const isa e = dnnl::get_effective_cpu_isa();
    return !(e == isa::avx512_core_vnni || e == isa::avx512_core_bf16 || e == isa::avx512_core_amx ||
             e == isa::avx2_vnni);
}

std::string int8_isa_name() {
    using isa = dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
        case isa::avx512_core_amx: return "AMX";
        case isa::avx512_core_bf16:
        case isa::avx512_core_vnni: return "AVX512-VNNI";
        case isa::avx2_vnni: return "AVX-VNNI";
        case isa::avx512_core: return "AVX-512, no VNNI (7-bit weights)";
        case isa::avx2: return "AVX2, no VNNI (7-bit weights)";
        default: return "below AVX2 (7-bit weights)";
    }
}

QuantizedMatrix quantize_weights(const Tensor& w, bool reduced_range) {
    const int64_t out = w.dim(0), in = w.dim(1);
    const float qmax = reduced_range ? 63.f : 127.f;
    QuantizedMatrix m;
    m.q.resize(size_t(out * in));
    m.scale.resize(size_t(out));
    m.colsum.resize(size_t(out));
    for (int64_t n = 0; n < out; ++n) {
        const float* row = w.data() + n * in;
        float amax = 0;
        for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(row[k]));
        const float scale = amax > 0 ? amax / qmax : 1.f;
        int32_t sum = 0;
        for (int64_t k = 0; k < in; ++k) {
            const int32_t q = int32_t(std::clamp(std::nearbyint(row[k] / scale), -qmax, qmax));
            m.q[size_t(n * in + k)] = int8_t(q);
            sum += q;
        }
        m.scale[size_t(n)] = scale;
        m.colsum[size_t(n)] = sum;
    }
    return m;
}

namespace {

bool have_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}

__attribute__((target("avx2,fma"))) float absmax_avx2(const float* x, int64_t K) {
    const __m256 sign = _mm256_set1_ps(-0.f);
    __m256 m = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m);
    float r = *std::max_element(lanes, lanes + 8);
    for (; k < K; ++k) r = std::max(r, std::fabs(x[k]));
    return r;
}

// a[k] = round(x[k] * inv) + 128, |round(x * inv)| <= 127 by the choice of inv.
__attribute__((target("avx2,fma"))) void quantize_avx2(const float* x, int64_t K, float inv, uint8_t* a) {
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i off = _mm256_set1_epi32(128);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256i i0 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv)), off);
        __m256i i1 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vinv)), off);
        __m256i w = _mm256_packus_epi32(i0, i1);             // 16 x u16, lanes interleaved by 128-bit halves
        w = _mm256_permute4x64_epi64(w, 0xD8);               // back in order
        __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(a + k), b);
    }
    for (; k < K; ++k) a[k] = uint8_t(int32_t(std::nearbyint(x[k] * inv)) + 128);
}

__attribute__((target("avx2,fma"))) void dequantize_avx2(const int32_t* acc, int64_t N, float s, const float* wscale,
                                                        const int32_t* colsum, const float* bias, float* y,
                                                        bool accumulate) {
    const __m256 vs = _mm256_set1_ps(s);
    const __m256i v128 = _mm256_set1_epi32(128);
    int64_t n = 0;
    for (; n + 8 <= N; n += 8) {
        __m256i c = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + n)),
                                     _mm256_mullo_epi32(v128, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(colsum + n))));
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(c), _mm256_mul_ps(vs, _mm256_loadu_ps(wscale + n)));
        __m256 v = _mm256_add_ps(f, _mm256_loadu_ps(bias + n));
        if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(y + n));
        _mm256_storeu_ps(y + n, v);
    }
    for (; n < N; ++n) {
        const float v = float(acc[n] - 128 * colsum[n]) * s * wscale[n] + bias[n];
        y[n] = accumulate ? y[n] + v : v;
    }
}

float absmax(const float* x, int64_t K) {
    if (have_avx2()) return absmax_avx2(x, K);
    float r = 0;
    for (int64_t k = 0; k < K; ++k) r = std::max(r, std::fabs(x[k]));
    return r;
}

}  // namespace

void quantize_rows(const float* x, int64_t M, int64_t K, uint8_t* a, float* s) {
#pragma omp parallel for if (M >= 32)
    for (int64_t m = 0; m < M; ++m) {
        const float* row = x + m * K;
        const float amax = absmax(row, K);
        const float scale = amax > 0 ? amax / 127.f : 1.f;
        const float inv = amax > 0 ? 127.f / amax : 0.f;
        s[m] = scale;
        if (have_avx2()) {
            quantize_avx2(row, K, inv, a + m * K);
        } else {
            for (int64_t k = 0; k < K; ++k)
                a[m * K + k] = uint8_t(std::clamp(int32_t(std::nearbyint(row[k] * inv)), -127, 127) + 128);
        }
    }
}

void dequantize_rows(const int32_t* acc, int64_t M, int64_t N, const float* s, const QuantizedMatrix& w,
                     const float* bias, float* y, bool accumulate) {
#pragma omp parallel for if (M >= 32)
    for (int64_t m = 0; m < M; ++m) {
        const int32_t* a = acc + m * N;
        float* out = y + m * N;
        if (have_avx2()) dequantize_avx2(a, N, s[m], w.scale.data(), w.colsum.data(), bias, out, accumulate);
        else for (int64_t n = 0; n < N; ++n) {
            const float v = float(a[n] - 128 * w.colsum[size_t(n)]) * s[m] * w.scale[size_t(n)] + bias[n];
            out[n] = accumulate ? out[n] + v : v;
        }
    }
}

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

Int8Linear::Int8Linear(const dnnl::engine& eng, dnnl::stream& s, const Tensor& w, const Tensor& b, Act act,
                       std::shared_ptr<Int8Scratch> scratch)
    : eng_(eng), in_(w.dim(1)), out_(w.dim(0)), act_(act), scratch_(std::move(scratch)) {
    qw_ = quantize_weights(w, int8_reduced_range());
    bias_.assign(b.data(), b.data() + out_);
    // The checkpoint's (out, in) row-major matrix is W^T in (in, out) "ba" order. The
    // preferred layout depends only on the shape: ask once per shape (a descriptor JIT-compiles).
    memory user_w({{in_, out_}, dt::s8, tag::ba}, eng_, qw_.q.data());
    static thread_local std::map<std::pair<int64_t, int64_t>, memory::desc> layouts;
    auto it = layouts.find({in_, out_});
    if (it == layouts.end()) it = layouts.emplace(std::make_pair(in_, out_), make_pd(kTileRows).weights_desc()).first;
    w_buf_ = prefaulted_buffer(it->second.get_size());
    w_mem_ = memory(it->second, eng_, w_buf_.get());
    dnnl::reorder(user_w, w_mem_).execute(s, user_w, w_mem_);
    s.wait();
    std::vector<int8_t>().swap(qw_.q);  // the reordered copy is the one kept
}

dnnl::matmul::primitive_desc Int8Linear::make_pd(int64_t rows) const {
    memory::desc src({rows, in_}, dt::u8, tag::ab), wei({in_, out_}, dt::s8, tag::any), dst({rows, out_}, dt::s32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), eng_);
}

Int8Linear::Tile& Int8Linear::tile(int64_t rows) {
    auto it = tiles_.find(rows);
    if (it != tiles_.end()) return it->second;
    Tile t;
    auto pd = make_pd(rows);
    t.mm = dnnl::matmul(pd);
    t.src_md = pd.src_desc();
    t.dst_md = pd.dst_desc();
    t.f_md = memory::desc({rows, out_}, dt::f32, tag::ab);
    if (act_ != Act::None) {
        const auto alg = act_ == Act::GeluErf ? dnnl::algorithm::eltwise_gelu_erf : dnnl::algorithm::eltwise_gelu_tanh;
        t.act = dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(
            dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, alg, t.f_md, 0.f, 0.f), eng_));
    }
    return tiles_.emplace(rows, std::move(t)).first->second;
}

namespace {
template <class T>
T* at_least(std::vector<T>& v, int64_t n) {
    if (v.size() < size_t(n)) v.resize(size_t(n));
    return v.data();
}
}  // namespace

// Per tile of rows: quantise (or take) the input, the u8 x s8 matmul into
// s32 sums, the f32 epilogue, the activation, and (for fc1) the quantised copy.
void Int8Linear::run(dnnl::stream& s, const Source& in, const Sink& out, int64_t M) {
    Int8Scratch& sc = *scratch_;
    const int64_t R = std::min(M, kTileRows);
    int32_t* acc = at_least(sc.acc, R * out_);
    float* f = out.a ? at_least(sc.f, R * out_) : nullptr;
    uint8_t* qa = in.x ? at_least(sc.a, R * in_) : nullptr;
    float* qs = in.x ? at_least(sc.s, R) : nullptr;
    s.wait();  // the input may come from the primitive before
    for (int64_t r0 = 0; r0 < M; r0 += R) {
        const int64_t rows = std::min(R, M - r0);
        const uint8_t* a = in.a ? in.a + r0 * in_ : qa;
        const float* sa = in.a ? in.sa + r0 : qs;
        if (in.x) quantize_rows(in.x + r0 * in_, rows, in_, qa, qs);
        Tile& t = tile(rows);
        memory src(t.src_md, eng_, const_cast<uint8_t*>(a)), dst(t.dst_md, eng_, acc);
        t.mm.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_DST, dst}});
        s.wait();
        float* y = out.a ? f : out.y + r0 * out_;
        dequantize_rows(acc, rows, out_, sa, qw_, bias_.data(), y, !out.a && out.accumulate);
        if (t.act) {
            memory ym(t.f_md, eng_, y);
            t.act.execute(s, {{DNNL_ARG_SRC, ym}, {DNNL_ARG_DST, ym}});
            s.wait();
        }
        if (out.a) quantize_rows(f, rows, out_, out.a + r0 * out_, out.sa + r0);
    }
}

void Int8Linear::forward(dnnl::stream& s, const float* x, float* y, bool accumulate, int64_t M) {
    run(s, {x, nullptr, nullptr}, {y, accumulate, nullptr, nullptr}, M);
}

void Int8Linear::forward_quantized(dnnl::stream& s, const float* x, uint8_t* a, float* sa, int64_t M) {
    run(s, {x, nullptr, nullptr}, {nullptr, false, a, sa}, M);
}

void Int8Linear::forward_from_quantized(dnnl::stream& s, const uint8_t* a, const float* sa, float* y, bool accumulate,
                                        int64_t M) {
    run(s, {nullptr, a, sa}, {y, accumulate, nullptr, nullptr}, M);
}

Tensor Int8Linear::plain_weights(dnnl::stream& s) const {
    std::vector<int8_t> q(size_t(out_ * in_));
    memory plain({{in_, out_}, dt::s8, tag::ba}, eng_, q.data());
    memory src = w_mem_;
    dnnl::reorder(src, plain).execute(s, src, plain);
    s.wait();
    Tensor w = Tensor::uninitialized({out_, in_});
    for (int64_t n = 0; n < out_; ++n)
        for (int64_t k = 0; k < in_; ++k) w[n * in_ + k] = float(q[size_t(n * in_ + k)]) * qw_.scale[size_t(n)];
    return w;
}

}  // namespace vitlens::detail
