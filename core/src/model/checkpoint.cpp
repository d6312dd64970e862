#include "vitlens/model/checkpoint.h"

#include <cstring>
#include <filesystem>

#include "vitlens/errors.h"
#include "vitlens/model/pos_embed.h"

namespace vitlens {

namespace {

struct Names {
    std::string cls, dist, reg, pos, patch_w, patch_b, norm, fc_norm, head, head2;
    std::string block_prefix;  // "vit.encoder.layer." / "blocks."
    bool fused_qkv = false;
    // Inside a block (after "<block_prefix><l>."); each gets ".weight" / ".bias".
    std::string ln1 = "layernorm_before", proj = "attention.output.dense", ln2 = "layernorm_after",
                fc1 = "intermediate.dense", fc2 = "output.dense";
    std::string ls1, ls2;  // LayerScale vectors (D), when the family has them
};

// A model saved on its own (ViTModel, Dinov2Model) has no "vit." / "dinov2."
// prefix; one saved inside a classifier has.
std::string hf_root(const SafeTensors& st, const std::string& root) {
    return st.contains(root + "embeddings.cls_token") || !st.contains("embeddings.cls_token") ? root : "";
}

Names names_for(const ModelSpec& s, const SafeTensors& st) {
    Names n;
    if (s.naming == Naming::Timm) {
        n = {"cls_token", "dist_token", "reg_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
             "norm", "fc_norm", "head", "head_dist", "blocks.", true,
             "norm1", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2", "ls1.gamma", "ls2.gamma"};
        return n;
    }
    const std::string root = hf_root(st, s.naming == Naming::HfVit ? "vit." : s.naming == Naming::HfDeit ? "deit." : "dinov2.");
    if (s.naming == Naming::HfDinov2) {
        n.ln1 = "norm1";
        n.ln2 = "norm2";
        n.fc1 = "mlp.fc1";
        n.fc2 = "mlp.fc2";
        n.ls1 = "layer_scale1.lambda1";
        n.ls2 = "layer_scale2.lambda1";
    }
    n.cls = root + "embeddings.cls_token";
    n.dist = root + "embeddings.distillation_token";
    n.pos = root + "embeddings.position_embeddings";
    n.patch_w = root + "embeddings.patch_embeddings.projection.weight";
    n.patch_b = root + "embeddings.patch_embeddings.projection.bias";
    n.norm = root + "layernorm";
    n.block_prefix = root + "encoder.layer.";
    n.head = s.distilled_heads ? "cls_classifier" : "classifier";
    n.head2 = s.distilled_heads ? "distillation_classifier" : "";
    return n;
}

}  // namespace

EncoderWeights load_top_weights(const SafeTensors& st, const ModelSpec& s, Borrow borrow) {
    const int64_t D = s.hidden, K = s.num_classes, C = s.channels, P = s.patch;
    Names n = names_for(s, st);
    EncoderWeights w;
    auto get = [&](const std::string& name, std::vector<int64_t> shape) {
        return borrow == Borrow::Views ? st.view_f32(name, shape) : st.to_f32(name, shape);
    };

    w.patch_w = get(n.patch_w, {D, C, P, P});
    w.patch_w.reshape({D, C * P * P});
    w.patch_b = get(n.patch_b, {D});

    // Prefix tokens in order: class, distillation, registers.
    w.prefix = Tensor({s.n_prefix, D});
    int row = 0;
    auto put_tokens = [&](const std::string& name, int64_t count) {
        Tensor t = get(name, {1, count, D});
        std::memcpy(w.prefix.data() + row * D, t.data(), sizeof(float) * count * D);
        row += static_cast<int>(count);
    };
    if (st.contains(n.cls) || s.naming != Naming::Timm) put_tokens(n.cls, 1);
    if (s.naming == Naming::HfDeit || st.contains(n.dist)) put_tokens(n.dist, 1);
    if (s.naming == Naming::Timm && st.contains(n.reg)) put_tokens(n.reg, s.n_prefix - row);
    if (row != s.n_prefix)
        throw ModelError(st.path() + ": found " + std::to_string(row) + " prefix tokens, config implies " +
                         std::to_string(s.n_prefix));

    const auto& ps = st.info(n.pos).shape;
    if (ps.size() != 3 || ps[0] != 1 || ps[2] != D)
        throw ModelError(st.path() + ": tensor '" + n.pos + "' has shape " + shape_str(ps) + ", expected [1, tokens, " +
                         std::to_string(D) + "]");
    w.pos = position_embedding(st.view_f32(n.pos, ps), s, st.path() + ": tensor '" + n.pos + "'");

    if (s.naming == Naming::Timm && s.fc_norm) {
        w.fc_norm_w = get(n.fc_norm + ".weight", {D});
        w.fc_norm_b = get(n.fc_norm + ".bias", {D});
    }
    if (!(s.naming == Naming::Timm && s.fc_norm && !st.contains(n.norm + ".weight"))) {
        w.norm_w = get(n.norm + ".weight", {D});
        w.norm_b = get(n.norm + ".bias", {D});
    }
    if (!s.has_head()) return w;
    w.head_w = get(n.head + ".weight", {K, s.head_in()});
    w.head_b = get(n.head + ".bias", {K});
    if (s.distilled_heads) {
        w.head2_w = get(n.head2 + ".weight", {K, D});
        w.head2_b = get(n.head2 + ".bias", {K});
    }
    return w;
}

namespace {

// W (out, in) and b (out) scaled row-wise by gamma (out), into owned copies.
void fold_scale(Tensor& W, Tensor& b, const Tensor& gamma) {
    Tensor w2(W), b2(b);  // copies own their data, even of a view
    const int64_t out = W.dim(0), in = W.dim(1);
    for (int64_t r = 0; r < out; ++r) {
        for (int64_t c = 0; c < in; ++c) w2[r * in + c] *= gamma[r];
        b2[r] *= gamma[r];
    }
    W = std::move(w2);
    b = std::move(b2);
}

}  // namespace

BlockWeights load_block_weights(const SafeTensors& st, const ModelSpec& s, int l, Borrow borrow) {
    const int64_t D = s.hidden, I = s.mlp;
    Names n = names_for(s, st);
    auto get = [&](const std::string& name, std::vector<int64_t> shape) {
        return borrow == Borrow::Views ? st.view_f32(name, shape) : st.to_f32(name, shape);
    };
    BlockWeights b;
    std::string p = n.block_prefix + std::to_string(l) + ".";
    b.ln1_w = get(p + n.ln1 + ".weight", {D});
    b.ln1_b = get(p + n.ln1 + ".bias", {D});
    if (n.fused_qkv) {
        b.qkv_w = get(p + "attn.qkv.weight", {3 * D, D});
        b.qkv_b = s.qkv_bias ? get(p + "attn.qkv.bias", {3 * D}) : Tensor({3 * D});
    } else {  // separate query, key, value: stacked into the fused layout
        std::string a = p + "attention.attention.";
        b.qkv_w = Tensor::uninitialized({3 * D, D});
        b.qkv_b = Tensor({3 * D});
        const char* parts[3] = {"query", "key", "value"};
        for (int k = 0; k < 3; ++k) {
            Tensor wt = get(a + parts[k] + ".weight", {D, D});
            std::memcpy(b.qkv_w.data() + k * D * D, wt.data(), sizeof(float) * D * D);
            if (s.qkv_bias) {
                Tensor bt = get(a + parts[k] + ".bias", {D});
                std::memcpy(b.qkv_b.data() + k * D, bt.data(), sizeof(float) * D);
            }
        }
    }
    b.proj_w = get(p + n.proj + ".weight", {D, D});
    b.proj_b = get(p + n.proj + ".bias", {D});
    b.ln2_w = get(p + n.ln2 + ".weight", {D});
    b.ln2_b = get(p + n.ln2 + ".bias", {D});
    b.fc1_w = get(p + n.fc1 + ".weight", {I, D});
    b.fc1_b = get(p + n.fc1 + ".bias", {I});
    b.fc2_w = get(p + n.fc2 + ".weight", {D, I});
    b.fc2_b = get(p + n.fc2 + ".bias", {D});
    if (n.fused_qkv)
        for (const char* extra : {"attn.q_norm.weight", "norm1.scale", "attn.norm.weight", "mlp.norm.weight"})
            if (st.contains(p + extra))
                throw ModelError(st.path() + ": tensor '" + p + extra + "' (qk-norm / scale-norm) is not supported by this encoder");
    if (!n.ls1.empty() && st.contains(p + n.ls1)) {  // x + gamma * (W h + b) == x + (diag(gamma) W) h + gamma b
        fold_scale(b.proj_w, b.proj_b, get(p + n.ls1, {D}));
        fold_scale(b.fc2_w, b.fc2_b, get(p + n.ls2, {D}));
    } else if (s.layer_scale) {
        throw ModelError(st.path() + ": tensor '" + p + n.ls1 + "' is missing (the model has LayerScale)");
    }
    return b;
}

EncoderWeights load_encoder_weights(const SafeTensors& st, const ModelSpec& s) {
    EncoderWeights w = load_top_weights(st, s);
    for (int l = 0; l < s.layers; ++l) w.blocks.push_back(load_block_weights(st, s, l));
    return w;
}

SafeTensors open_checkpoint(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw ModelError(dir + ": not a model directory (expected config.json + model.safetensors)");
    if (!fs::exists(fs::path(dir) / "config.json", ec)) throw ModelError(dir + "/config.json: missing");
    std::string st_path = (fs::path(dir) / "model.safetensors").string();
    const std::string index = (fs::path(dir) / "model.safetensors.index.json").string();
    if (!fs::exists(st_path, ec) && fs::exists(index, ec)) return SafeTensors::open_index(index);
    if (!fs::exists(st_path, ec)) {
        if (fs::exists(fs::path(dir) / "pytorch_model.bin", ec) || fs::exists(fs::path(dir) / "model.pth", ec))
            throw ModelError(st_path + ": missing; only pickled PyTorch weights are present, which vitlens never loads "
                                       "(they can run code). Convert them to safetensors.");
        throw ModelError(st_path + ": missing");
    }
    return SafeTensors(st_path);
}

Checkpoint load_checkpoint(const std::string& dir) {
    SafeTensors st = open_checkpoint(dir);
    Checkpoint c;
    c.spec = read_model_spec(dir, st);
    c.weights = load_encoder_weights(st, c.spec);
    return c;
}

}  // namespace vitlens
