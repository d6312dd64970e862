#include "vitlens/model/bench_models.h"

#include <random>

#include "vitlens/errors.h"


namespace vitlens {

ModelSpec spec_for_arch(const std::string& arch) {
    ModelSpec s;
    s.architecture = arch;
    s.naming = Naming::Timm;
    if (arch == "vit_tiny") { s.hidden = 192; s.heads = 3; }
    else if (arch == "vit_small") { s.hidden = 384; s.heads = 6; }
    else if (arch == "vit_base") { s.hidden = 768; s.heads = 12; }
    else throw ArgumentError("unknown architecture '" + arch + "' (vit_tiny, vit_small, vit_base)");
    s.layers = 12;
    s.mlp = 4 * s.hidden;
    s.image_h = s.image_w = 224;
    s.patch = 16;
    s.num_classes = 1000;
    s.eps = 1e-6f;
    s.n_prefix = 1;
    s.labels.resize(1000);
    for (int i = 0; i < 1000; ++i) s.labels[i] = "class " + std::to_string(i);
    s.pre.resize = Preprocess::Resize::Exact;
    s.pre.resize_h = s.pre.resize_w = 224;
    s.pre.source = "benchmark defaults";
    return s;
}

EncoderWeights random_encoder_weights(const ModelSpec& s, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.f, 0.02f);
    auto rnd = [&](std::vector<int64_t> shape) {
        Tensor t(std::move(shape));
        for (int64_t i = 0; i < t.numel(); ++i) t[i] = nd(rng);
        return t;
    };
    auto ones = [](int64_t n) {
        Tensor t({n});
        for (int64_t i = 0; i < n; ++i) t[i] = 1.f;
        return t;
    };
    const int64_t D = s.hidden, I = s.mlp, K = s.num_classes;
    EncoderWeights w;
    w.patch_w = rnd({D, int64_t(s.patch_dim())});
    w.patch_b = rnd({D});
    w.prefix = rnd({s.n_prefix, D});
    w.pos = rnd({s.tokens(), D});
    for (int l = 0; l < s.layers; ++l) {
        BlockWeights b;
        b.ln1_w = ones(D);
        b.ln1_b = rnd({D});
        b.qkv_w = rnd({3 * D, D});
        b.qkv_b = rnd({3 * D});
        b.proj_w = rnd({D, D});
        b.proj_b = rnd({D});
        b.ln2_w = ones(D);
        b.ln2_b = rnd({D});
        b.fc1_w = rnd({I, D});
        b.fc1_b = rnd({I});
        b.fc2_w = rnd({D, I});
        b.fc2_b = rnd({D});
        w.blocks.push_back(std::move(b));
    }
    w.norm_w = ones(D);
    w.norm_b = rnd({D});
    w.head_w = rnd({K, D});
    w.head_b = rnd({K});
    return w;
}

}  // namespace vitlens
