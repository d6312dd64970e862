#include "vitlens/model_info.h"

#include <cstdio>

#include <algorithm>

namespace vitlens {

namespace {

template <class... A>
std::string fmt(const char* f, A... a) {
    char b[512];
    std::snprintf(b, sizeof b, f, a...);
    return b;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> describe(const ModelSpec& s) {
    return {
        {"architecture", s.architecture + " (" + naming_name(s.naming) + " naming)"},
        {"input", fmt("%dx%d RGB, patch %d -> %dx%d grid, %d tokens (%d prefix)", s.image_w, s.image_h, s.patch,
                      s.grid_w(), s.grid_h(), s.tokens(), s.n_prefix)},
        {"encoder", fmt("%d layers, width %d, %d heads of %d, MLP %d, %s, LayerNorm eps %g%s", s.layers, s.hidden,
                        s.heads, s.head_dim(), s.mlp, s.hidden_act.c_str(), s.eps, s.qkv_bias ? "" : ", no qkv bias")},
        {"head", fmt("%d classes, pool %s%s", s.num_classes, s.global_pool.c_str(),
                     s.distilled_heads ? ", class + distillation heads averaged" : "")},
        {"parameters", fmt("%lld (%.2f M)", static_cast<long long>(s.parameters()), s.parameters() / 1e6)},
        {"compute", fmt("%.3f GFLOP per image", s.gflops())},
        {"preprocessing", s.pre.describe()},
    };
}

std::string label_list(const ModelSpec& s, int max) {
    const int n = max > 0 ? std::min(max, s.num_classes) : s.num_classes;
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? ", " : "") + s.labels[i];
    if (n < s.num_classes) out += ", ... (" + std::to_string(s.num_classes - n) + " more)";
    return out;
}

}  // namespace vitlens
