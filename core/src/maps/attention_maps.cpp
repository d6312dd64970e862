#include "vitlens/maps/attention_maps.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "vitlens/errors.h"

namespace vitlens {

Fusion parse_fusion(const std::string& s) {
    if (s == "mean") return Fusion::Mean;
    if (s == "max") return Fusion::Max;
    if (s == "min") return Fusion::Min;
    throw ArgumentError("fusion must be mean, max or min, got '" + s + "'");
}

const char* fusion_name(Fusion f) {
    switch (f) {
        case Fusion::Mean: return "mean";
        case Fusion::Max: return "max";
        case Fusion::Min: return "min";
    }
    return "?";
}

namespace {

void check(const Tensor& att, const TokenLayout& lay) {
    if (att.ndim() != 4 || att.dim(2) != att.dim(3))
        throw ArgumentError("attention must be (L, H, T, T), got " + shape_str(att.shape()));
    if (att.dim(2) != lay.n_prefix + int64_t(lay.grid_h) * lay.grid_w)
        throw ArgumentError("attention has T = " + std::to_string(att.dim(2)) + ", layout implies " +
                                    std::to_string(lay.n_prefix) + " + " + std::to_string(lay.grid_h) + "x" +
                                    std::to_string(lay.grid_w));
}

// Heads of layer l fused into a T x T matrix (double for the products).
std::vector<double> fuse(const Tensor& att, int l, Fusion f) {
    const int64_t H = att.dim(1), T = att.dim(2), TT = T * T;
    const float* a = att.data() + l * H * TT;
    std::vector<double> out(a, a + TT);
    for (int64_t h = 1; h < H; ++h) {
        const float* ah = a + h * TT;
        for (int64_t i = 0; i < TT; ++i) {
            if (f == Fusion::Mean) out[i] += ah[i];
            else if (f == Fusion::Max) out[i] = std::max(out[i], double(ah[i]));
            else out[i] = std::min(out[i], double(ah[i]));
        }
    }
    if (f == Fusion::Mean)
        for (double& v : out) v /= double(H);
    return out;
}

AttentionMap finish(const double* row, const TokenLayout& lay) {
    AttentionMap m;
    m.rows = lay.grid_h;
    m.cols = lay.grid_w;
    const int n = lay.grid_h * lay.grid_w;
    m.values.resize(n);
    double mx = 0;
    for (int i = 0; i < n; ++i) mx = std::max(mx, row[lay.n_prefix + i]);
    for (int i = 0; i < n; ++i) m.values[i] = mx > 0 ? static_cast<float>(row[lay.n_prefix + i] / mx) : 0.f;
    return m;
}

int resolve_layer(int layer, int64_t L) {
    int l = layer < 0 ? static_cast<int>(L + layer) : layer;
    if (l < 0 || l >= L)
        throw ArgumentError("layer " + std::to_string(layer) + " is out of range for " + std::to_string(L) +
                                    " layers (0.." + std::to_string(L - 1) + ", or -1..-" + std::to_string(L) + ")");
    return l;
}

}  // namespace

AttentionMap attribution(const Tensor& att, const Tensor& grad, const TokenLayout& lay) {
    check(att, lay);
    if (grad.shape() != att.shape())
        throw ArgumentError("attention gradient must match the attention " + shape_str(att.shape()) + ", got " +
                            shape_str(grad.shape()));
    const int64_t L = att.dim(0), H = att.dim(1), T = att.dim(2), TT = T * T;
    // Only the readout row of R is formed: r = u (I + Abar_{L-1}) ... (I + Abar_0),
    // u = e_0 or the mean of the patch rows; T^2 work per layer.
    std::vector<double> r(T, 0.0), abar(TT);
    if (lay.patch_mean_readout)
        for (int64_t t = lay.n_prefix; t < T; ++t) r[t] = 1.0 / double(T - lay.n_prefix);
    else
        r[0] = 1.0;
    for (int64_t l = L - 1; l >= 0; --l) {
        std::fill(abar.begin(), abar.end(), 0.0);
        for (int64_t h = 0; h < H; ++h) {
            const float* a = att.data() + (l * H + h) * TT;
            const float* g = grad.data() + (l * H + h) * TT;
            for (int64_t i = 0; i < TT; ++i) abar[i] += std::max(0.0, double(a[i]) * g[i]);
        }
        std::vector<double> next = r;
        for (int64_t i = 0; i < T; ++i) {
            if (r[i] == 0.0) continue;
            const double ri = r[i] / double(H);
            for (int64_t j = 0; j < T; ++j) next[j] += ri * abar[i * T + j];
        }
        r.swap(next);
    }
    return finish(r.data(), lay);
}

namespace {

// Layer l's heads fused, the `discard` fraction of lowest entries zeroed
// (never the class token's to itself), the identity added (the residual) and
// each row normalised to sum 1: the T x T matrix rollout multiplies.
std::vector<double> rollout_layer(const Tensor& att, int l, Fusion fusion, float discard, std::vector<int64_t>& order) {
    const int64_t T = att.dim(2), TT = T * T;
    std::vector<double> A = fuse(att, l, fusion);
    const auto k = static_cast<int64_t>(TT * double(discard));
    if (k > 0) {
        order.resize(size_t(TT));
        std::iota(order.begin(), order.end(), 0);
        std::nth_element(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
            return A[a] < A[b] || (A[a] == A[b] && a < b);
        });
        for (int64_t i = 0; i < k; ++i)
            if (order[i] != 0) A[order[i]] = 0.0;
    }
    for (int64_t i = 0; i < T; ++i) {
        A[i * T + i] += 1.0;
        double s = 0;
        for (int64_t j = 0; j < T; ++j) s += A[i * T + j];
        for (int64_t j = 0; j < T; ++j) A[i * T + j] /= s;
    }
    return A;
}

}  // namespace

// R = A_{L-1} ... A_0 (Abnar & Zuidema), and the map is R's class-token row:
// e_0^T A_{L-1} ... A_0, formed as a chain of vector-matrix products from the
// last layer down, O(L T^2) instead of the O(L T^3) of the whole product.
AttentionMap rollout(const Tensor& att, const TokenLayout& lay, Fusion fusion, float discard) {
    check(att, lay);
    if (!(discard >= 0.f && discard < 1.f)) throw ArgumentError("discard ratio must be in [0, 1)");
    const int64_t L = att.dim(0), T = att.dim(2);
    std::vector<double> r(static_cast<size_t>(T), 0.0), next(static_cast<size_t>(T), 0.0);
    r[0] = 1.0;
    std::vector<int64_t> order;
    for (int64_t l = L - 1; l >= 0; --l) {
        const std::vector<double> A = rollout_layer(att, static_cast<int>(l), fusion, discard, order);
        std::fill(next.begin(), next.end(), 0.0);
        for (int64_t i = 0; i < T; ++i) {
            if (r[i] == 0.0) continue;
            const double ri = r[i];
            const double* a = &A[size_t(i * T)];
            for (int64_t j = 0; j < T; ++j) next[j] += ri * a[j];
        }
        r.swap(next);
    }
    return finish(r.data(), lay);
}

AttentionMap attention_row(const Tensor& att, const TokenLayout& lay, int layer, int head, Fusion fusion,
                           int query_token) {
    check(att, lay);
    const int64_t L = att.dim(0), H = att.dim(1), T = att.dim(2);
    int l = resolve_layer(layer, L);
    if (query_token < 0 || query_token >= T)
        throw ArgumentError("query token " + std::to_string(query_token) + " out of range 0.." + std::to_string(T - 1));
    std::vector<double> row(T);
    if (head >= 0) {
        if (head >= H)
            throw ArgumentError("head " + std::to_string(head) + " is out of range for " + std::to_string(H) +
                                        " heads (0.." + std::to_string(H - 1) + ")");
        const float* a = att.data() + ((l * H + head) * T + query_token) * T;
        std::copy(a, a + T, row.begin());
    } else {
        for (int64_t j = 0; j < T; ++j) {
            double acc = fusion == Fusion::Mean ? 0.0 : att.data()[((l * H + 0) * T + query_token) * T + j];
            for (int64_t h = 0; h < H; ++h) {
                double v = att.data()[((l * H + h) * T + query_token) * T + j];
                if (fusion == Fusion::Mean) acc += v;
                else if (fusion == Fusion::Max) acc = std::max(acc, v);
                else acc = std::min(acc, v);
            }
            row[j] = fusion == Fusion::Mean ? acc / H : acc;
        }
    }
    return finish(row.data(), lay);
}

AttentionMap attention_map(const Tensor& att, const TokenLayout& lay, int layer, int head, Fusion fusion) {
    return attention_row(att, lay, layer, head, fusion, 0);
}

AttentionMap query_map(const Tensor& att, const TokenLayout& lay, int row, int col, int layer, int head, Fusion fusion) {
    if (row < 0 || row >= lay.grid_h || col < 0 || col >= lay.grid_w)
        throw ArgumentError("query patch (" + std::to_string(row) + ", " + std::to_string(col) +
                                    ") is outside the " + std::to_string(lay.grid_h) + "x" + std::to_string(lay.grid_w) +
                                    " patch grid");
    return attention_row(att, lay, layer, head, fusion, lay.n_prefix + row * lay.grid_w + col);
}

std::vector<AttentionMap> gallery(const Tensor& att, const TokenLayout& lay) {
    check(att, lay);
    std::vector<AttentionMap> out;
    for (int l = 0; l < att.dim(0); ++l)
        for (int h = 0; h < att.dim(1); ++h) out.push_back(attention_map(att, lay, l, h));
    return out;
}

void clip_outliers(AttentionMap& m, float percentile) {
    if (m.values.empty()) return;
    std::vector<float> v = m.values;
    size_t k = static_cast<size_t>(std::clamp(percentile, 0.f, 100.f) / 100.f * (v.size() - 1) + 0.5f);
    std::nth_element(v.begin(), v.begin() + k, v.end());
    float cap = v[k];
    if (cap <= 0) return;
    for (float& x : m.values) x = std::min(x, cap) / cap;
}

std::vector<LayerNorms> token_norm_report(const Tensor& norms, float factor) {
    if (norms.ndim() != 2) throw ArgumentError("token norms must be (L, T), got " + shape_str(norms.shape()));
    std::vector<LayerNorms> out;
    const int64_t L = norms.dim(0), T = norms.dim(1);
    for (int64_t l = 0; l < L; ++l) {
        const float* n = norms.data() + l * T;
        std::vector<float> v(n, n + T);
        std::nth_element(v.begin(), v.begin() + T / 2, v.end());
        LayerNorms r;
        r.median = v[T / 2];
        r.max = *std::max_element(n, n + T);
        for (int64_t t = 0; t < T; ++t)
            if (n[t] > factor * r.median) r.outliers.push_back(static_cast<int>(t));
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace vitlens
