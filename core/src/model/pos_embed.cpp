#include "vitlens/model/pos_embed.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "vitlens/errors.h"

namespace vitlens {

namespace {

// One output index's taps along one axis: source indices and weights.
struct Taps {
    std::vector<int> index;
    std::vector<double> weight;
};

// torch's upsample_bicubic2d: Keys' cubic with A = -0.75 at the source
// coordinate scale * (o + 0.5) - 0.5 (not clamped), taps clamped to the edge.
std::vector<Taps> bicubic_taps(int in, int out) {
    const float scale = float(in) / float(out);
    const double A = -0.75;
    auto near = [A](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };        // |x| <= 1
    auto far = [A](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
    std::vector<Taps> taps(out);
    for (int o = 0; o < out; ++o) {
        const float real = scale * (o + 0.5f) - 0.5f;
        const int x0 = static_cast<int>(std::floor(real));
        const double t = double(real) - x0;
        const double w[4] = {far(t + 1), near(t), near(1 - t), far(2 - t)};
        for (int k = 0; k < 4; ++k) {
            taps[o].index.push_back(std::clamp(x0 - 1 + k, 0, in - 1));
            taps[o].weight.push_back(w[k]);
        }
    }
    return taps;
}

// torch's antialiased bicubic (Pillow's filter, A = -0.5, its support widened
// by the scale when shrinking), weights normalised to sum 1.
std::vector<Taps> antialias_taps(int in, int out) {
    const double scale = double(in) / out;
    const double support = scale >= 1 ? 2.0 * scale : 2.0, inv = scale >= 1 ? 1.0 / scale : 1.0;
    auto filter = [](double x) {
        const double a = -0.5;
        x = std::fabs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    };
    std::vector<Taps> taps(out);
    for (int o = 0; o < out; ++o) {
        const double center = scale * (o + 0.5);
        const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
        const int hi = std::min(static_cast<int>(center + support + 0.5), in);
        double total = 0;
        for (int j = lo; j < hi; ++j) {
            const double w = filter((j - center + 0.5) * inv);
            taps[o].index.push_back(j);
            taps[o].weight.push_back(w);
            total += w;
        }
        if (total != 0)
            for (double& w : taps[o].weight) w /= total;
    }
    return taps;
}

std::vector<Taps> taps_for(int in, int out, PosResample mode) {
    return mode == PosResample::BicubicAntialias ? antialias_taps(in, out) : bicubic_taps(in, out);
}

}  // namespace

Tensor resample_grid(const Tensor& grid, int gh, int gw, int oh, int ow, PosResample mode) {
    const int64_t D = grid.dim(grid.ndim() - 1);
    const auto ty = taps_for(gh, oh, mode), tx = taps_for(gw, ow, mode);
    Tensor rows = Tensor::uninitialized({int64_t(gh) * ow, D});  // along x first, as torch does
    std::vector<double> acc(D);
    for (int y = 0; y < gh; ++y)
        for (int x = 0; x < ow; ++x) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (size_t k = 0; k < tx[x].index.size(); ++k) {
                const float* src = grid.data() + (int64_t(y) * gw + tx[x].index[k]) * D;
                for (int64_t c = 0; c < D; ++c) acc[c] += tx[x].weight[k] * src[c];
            }
            float* dst = rows.data() + (int64_t(y) * ow + x) * D;
            for (int64_t c = 0; c < D; ++c) dst[c] = static_cast<float>(acc[c]);
        }
    Tensor out = Tensor::uninitialized({int64_t(oh) * ow, D});
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (size_t k = 0; k < ty[y].index.size(); ++k) {
                const float* src = rows.data() + (int64_t(ty[y].index[k]) * ow + x) * D;
                for (int64_t c = 0; c < D; ++c) acc[c] += ty[y].weight[k] * src[c];
            }
            float* dst = out.data() + (int64_t(y) * ow + x) * D;
            for (int64_t c = 0; c < D; ++c) dst[c] = static_cast<float>(acc[c]);
        }
    return out;
}

Tensor position_embedding(const Tensor& pos, const ModelSpec& s, const std::string& source) {
    const int64_t D = s.hidden, np = s.n_prefix, rows = pos.numel() / std::max<int64_t>(D, 1);
    const int64_t have_prefix = s.pos_has_prefix ? np : 0, cells = int64_t(s.pos_grid_h) * s.pos_grid_w;
    if (rows != have_prefix + cells)
        throw ModelError(source + ": the position embedding has " + std::to_string(rows) + " rows; a " +
                         std::to_string(s.pos_grid_h) + "x" + std::to_string(s.pos_grid_w) + " grid" +
                         (have_prefix ? " and " + std::to_string(have_prefix) + " prefix tokens" : "") + " needs " +
                         std::to_string(have_prefix + cells));
    Tensor out({int64_t(s.tokens()), D});  // prefix rows without a position stay zero
    if (have_prefix) std::memcpy(out.data(), pos.data(), sizeof(float) * np * D);
    Tensor grid = Tensor::borrow(pos.data() + have_prefix * D, {cells, D});
    const bool same = s.pos_grid_h == s.grid_h() && s.pos_grid_w == s.grid_w();
    Tensor resampled;
    if (!same) resampled = resample_grid(grid, s.pos_grid_h, s.pos_grid_w, s.grid_h(), s.grid_w(), s.pos_resample);
    std::memcpy(out.data() + np * D, (same ? grid : resampled).data(), sizeof(float) * s.patches() * D);
    return out;
}

}  // namespace vitlens
