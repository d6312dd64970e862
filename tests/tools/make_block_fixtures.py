#!/usr/bin/python3
"""Write tests/fixtures/blocks.json: one transformer block at a time (Debian python3-torch).

For a few of the existing fixture checkpoints, and for layer 0 and the last
layer of each, a seeded random input x (1, T, D) and the block's
intermediates, computed in float64 from the checkpoint's own safetensors with
the published block semantics (transformers' ViTLayer and Dinov2Layer, timm's
Block): pre-norm, LayerNorm eps from the config, fused or split Q K V,
softmax(Q K^T / sqrt(d)) V, the output projection, GELU (exact erf, or the
tanh approximation when the config says so) and LayerScale when the
checkpoint has it:

  ln1       = LN1(x)
  attention = x + ls1 * proj(attn(ln1))        (ls1 = 1 without LayerScale)
  ln2       = LN2(attention)
  output    = attention + ls2 * fc2(gelu(fc1(ln2)))

The reference block is checked against torchvision's EncoderBlock (an
independent implementation) on the same weights before anything is written.
It also prints how far an emulation of the encoder's bf16 path (bf16 weights,
bf16 matmul inputs, f32 LayerNorm, residual and scores) lands from the f32
reference: the margin behind tests/core/block_test.cpp's bf16 tolerance.

  /usr/bin/python3 tests/tools/make_block_fixtures.py tests/fixtures
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from functools import partial
from torchvision.models.vision_transformer import EncoderBlock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
import safetensors_io  # noqa: E402

# HF ViT (erf GELU), HF ViT with the tanh GELU, timm DeiT III (LayerScale
# ls*.gamma), HF DINOv2 backbone (LayerScale layer_scale*.lambda1, no prefix).
FIXTURES = ("hf_vit_f32", "hf_vit_tanh_f32", "timm_deit3_f32", "hf_dinov2_f32")
SEED = 20240611
TANH_ACTS = ("gelu_new", "gelu_pytorch_tanh")  # transformers' tanh-approximated GELUs


def sig7(v):
    return float(f"{v:.7g}")


def flat7(t):
    return [sig7(v) for v in t.flatten().tolist()]


def read_json(path):
    with open(path) as f:
        return json.load(f)


def describe(d, cfg, sd):
    """(naming, layers, heads, eps, tanh, tokens) of a fixture directory."""
    pre_path = os.path.join(d, "preprocessor_config.json")
    if "architecture" in cfg:  # timm: dims from the tensors, LayerNorm eps 1e-6, nn.GELU (erf)
        layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
        D = sd["blocks.0.norm1.weight"].shape[0]
        heads = 3 if "tiny" in cfg["architecture"] else None  # timm: 'tiny' = 3 heads
        size = cfg["pretrained_cfg"]["input_size"][1]
        patch = sd["patch_embed.proj.weight"].shape[-1]
        n_prefix = sum(sd[k].shape[1] for k in ("cls_token", "reg_token", "dist_token") if k in sd)
        return {"naming": "timm", "layers": layers, "heads": heads, "hidden": D, "eps": 1e-6, "tanh": False,
                "tokens": n_prefix + (size // patch) ** 2}
    model_type = cfg.get("model_type", "vit")
    dinov2 = model_type == "dinov2"
    size = cfg["image_size"]
    if os.path.exists(pre_path):  # the processor's crop is the input (DINOv2: 32, not the config's 40)
        pre = read_json(pre_path)
        if pre.get("do_center_crop"):
            size = pre["crop_size"]["height"]
        elif "height" in pre.get("size", {}):
            size = pre["size"]["height"]
    n_prefix = 2 if model_type == "deit" else 1
    return {"naming": "hf_dinov2" if dinov2 else "hf_vit", "layers": cfg["num_hidden_layers"],
            "heads": cfg["num_attention_heads"], "hidden": cfg["hidden_size"],
            "eps": cfg.get("layer_norm_eps", 1e-6 if dinov2 else 1e-12),  # Dinov2Config / ViTConfig defaults
            "tanh": cfg.get("hidden_act", "gelu") in TANH_ACTS,
            "tokens": n_prefix + (size // cfg["patch_size"]) ** 2}


def block_weights(sd, naming, i):
    """Block i's weights in canonical slots, float64; ls1/ls2 None without LayerScale."""
    g = lambda k: sd[k].double()  # noqa: E731
    if naming == "timm":
        p = f"blocks.{i}."
        w = {"ln1_w": g(p + "norm1.weight"), "ln1_b": g(p + "norm1.bias"),
             "qkv_w": g(p + "attn.qkv.weight"), "qkv_b": g(p + "attn.qkv.bias"),
             "proj_w": g(p + "attn.proj.weight"), "proj_b": g(p + "attn.proj.bias"),
             "ln2_w": g(p + "norm2.weight"), "ln2_b": g(p + "norm2.bias"),
             "fc1_w": g(p + "mlp.fc1.weight"), "fc1_b": g(p + "mlp.fc1.bias"),
             "fc2_w": g(p + "mlp.fc2.weight"), "fc2_b": g(p + "mlp.fc2.bias")}
        w["ls1"] = g(p + "ls1.gamma") if p + "ls1.gamma" in sd else None
        w["ls2"] = g(p + "ls2.gamma") if p + "ls2.gamma" in sd else None
        return w
    if naming == "hf_vit":
        root = next(r for r in ("vit.", "deit.", "") if f"{r}encoder.layer.0.layernorm_before.weight" in sd)
        p = f"{root}encoder.layer.{i}."
        n = {"ln1": "layernorm_before", "ln2": "layernorm_after", "fc1": "intermediate.dense", "fc2": "output.dense"}
    else:  # hf_dinov2
        root = next(r for r in ("dinov2.", "") if f"{r}encoder.layer.0.norm1.weight" in sd)
        p = f"{root}encoder.layer.{i}."
        n = {"ln1": "norm1", "ln2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}
    a = p + "attention.attention."
    w = {"ln1_w": g(p + n["ln1"] + ".weight"), "ln1_b": g(p + n["ln1"] + ".bias"),
         "qkv_w": torch.cat([g(a + z + ".weight") for z in ("query", "key", "value")], 0),
         "qkv_b": torch.cat([g(a + z + ".bias") for z in ("query", "key", "value")], 0),
         "proj_w": g(p + "attention.output.dense.weight"), "proj_b": g(p + "attention.output.dense.bias"),
         "ln2_w": g(p + n["ln2"] + ".weight"), "ln2_b": g(p + n["ln2"] + ".bias"),
         "fc1_w": g(p + n["fc1"] + ".weight"), "fc1_b": g(p + n["fc1"] + ".bias"),
         "fc2_w": g(p + n["fc2"] + ".weight"), "fc2_b": g(p + n["fc2"] + ".bias")}
    w["ls1"] = g(p + "layer_scale1.lambda1") if p + "layer_scale1.lambda1" in sd else None
    w["ls2"] = g(p + "layer_scale2.lambda1") if p + "layer_scale2.lambda1" in sd else None
    return w


def block(x, w, heads, eps, tanh, rnd=None):
    """The reference block. x: (B, T, D). Returns ln1, attention, ln2, output.
    rnd, when given, rounds the matmul inputs and outputs that the encoder's
    bf16 path keeps in bf16 (the bf16 emulation); None: the exact block."""
    r = rnd or (lambda t: t)
    B, T, D = x.shape
    d = D // heads
    ln1 = F.layer_norm(x, (D,), w["ln1_w"], w["ln1_b"], eps)
    q, k, v = r(r(ln1) @ w["qkv_w"].T + w["qkv_b"]).split(D, -1)
    q, k, v = (z.reshape(B, T, heads, d).transpose(1, 2) for z in (q, k, v))
    a = r(((q @ k.transpose(-1, -2)) / math.sqrt(d)).softmax(-1))
    o = r((a @ v).transpose(1, 2).reshape(B, T, D)) @ w["proj_w"].T + w["proj_b"]
    att = x + (o * w["ls1"] if w["ls1"] is not None else o)
    ln2 = F.layer_norm(att, (D,), w["ln2_w"], w["ln2_b"], eps)
    h = r(F.gelu(r(ln2) @ w["fc1_w"].T + w["fc1_b"], approximate="tanh" if tanh else "none"))
    o = h @ w["fc2_w"].T + w["fc2_b"]
    out = att + (o * w["ls2"] if w["ls2"] is not None else o)
    return {"ln1": ln1, "attention": att, "ln2": ln2, "output": out}


def folded(w):
    """LayerScale folded into proj and fc2, as the C++ loader does (x + g*(W h + b) = x + (diag(g) W) h + g b)."""
    f = dict(w)
    for ls, lin in (("ls1", "proj"), ("ls2", "fc2")):
        if w[ls] is not None:
            f[lin + "_w"], f[lin + "_b"] = w[lin + "_w"] * w[ls][:, None], w[lin + "_b"] * w[ls]
        f[ls] = None
    return f


def torchvision_output(x, w, heads, eps, tanh):
    """The same block through torchvision's EncoderBlock (LayerScale folded in)."""
    f = folded(w)
    D, mlp = f["fc1_w"].shape[1], f["fc1_w"].shape[0]
    tv = EncoderBlock(heads, D, mlp, 0.0, 0.0, partial(torch.nn.LayerNorm, eps=eps)).double().eval()
    if tanh:
        tv.mlp[1] = torch.nn.GELU(approximate="tanh")
    tv.load_state_dict({
        "ln_1.weight": f["ln1_w"], "ln_1.bias": f["ln1_b"],
        "self_attention.in_proj_weight": f["qkv_w"], "self_attention.in_proj_bias": f["qkv_b"],
        "self_attention.out_proj.weight": f["proj_w"], "self_attention.out_proj.bias": f["proj_b"],
        "ln_2.weight": f["ln2_w"], "ln_2.bias": f["ln2_b"],
        "mlp.0.weight": f["fc1_w"], "mlp.0.bias": f["fc1_b"], "mlp.3.weight": f["fc2_w"], "mlp.3.bias": f["fc2_b"]})
    with torch.no_grad():
        return tv(x)


def bf16_emulation(x, w, heads, eps, tanh):
    """The encoder's bf16 path in float32: bf16 weights (LayerScale folded first,
    biases f32), bf16 Q K V, probabilities, context and MLP hidden layer; f32
    LayerNorm, scores, softmax and residual."""
    r16 = lambda t: t.to(torch.bfloat16).to(torch.float32)  # noqa: E731
    f = {k: (v.float() if v is not None else None) for k, v in folded(w).items()}
    for k in ("qkv_w", "proj_w", "fc1_w", "fc2_w"):
        f[k] = r16(f[k])
    return block(x.float(), f, heads, eps, tanh, rnd=r16)


def worst_rel(got, want):
    return ((got.double() - want).abs().max() / want.abs().max()).item()


def main(out):
    gen = torch.Generator().manual_seed(SEED)
    entries = []
    for name in FIXTURES:
        d = os.path.join(out, name)
        cfg = read_json(os.path.join(d, "config.json"))
        sd = safetensors_io.load(os.path.join(d, "model.safetensors"))
        m = describe(d, cfg, sd)
        T, D, H = m["tokens"], m["hidden"], m["heads"]
        for layer in sorted({0, m["layers"] - 1}):
            w = block_weights(sd, m["naming"], layer)
            assert w["ln1_w"].shape[0] == D
            # x as the test reads it: rounded to 7 digits, then float32, then exact in float64.
            x = torch.tensor([sig7(v) for v in torch.randn(T * D, generator=gen).tolist()],
                             dtype=torch.float32).double().reshape(1, T, D)
            with torch.no_grad():
                ref = block(x, w, H, m["eps"], m["tanh"])
                tv_err = (torchvision_output(x, w, H, m["eps"], m["tanh"]) - ref["output"]).abs().max().item()
                emu = bf16_emulation(x, w, H, m["eps"], m["tanh"])
            assert tv_err < 1e-9, f"{name} layer {layer}: reference block disagrees with torchvision ({tv_err:.2e})"
            print(f"{name} layer {layer}: T={T} D={D} H={H} eps={m['eps']:g} "
                  f"gelu={'tanh' if m['tanh'] else 'erf'} layer_scale={w['ls1'] is not None}; "
                  f"vs torchvision {tv_err:.1e}; bf16 emulation max|diff|/max|ref|: "
                  + " ".join(f"{k} {worst_rel(emu[k], ref[k]):.1e}" for k in ref))
            e = {"fixture": name, "layer": layer, "tokens": T, "hidden": D, "x": flat7(x)}
            e.update({k: flat7(v) for k, v in ref.items()})
            entries.append(e)
    path = os.path.join(out, "blocks.json")
    with open(path, "w") as f:
        json.dump({"generator": "tests/tools/make_block_fixtures.py", "seed": SEED, "entries": entries}, f,
                  separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KiB, {len(entries)} entries)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
