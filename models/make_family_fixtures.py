#!/usr/bin/python3
"""Write the parity fixtures of the newer ViT families (Debian python3-torch).

Small random-weight f32 checkpoints laid out as their libraries save them,
and the reference outputs of a PyTorch forward written from the libraries'
code (transformers' modeling_dinov2 / modeling_vit, timm's vision_transformer):
  timm_deit3_f32     DeiT III: LayerScale (ls1/ls2.gamma), no class position (no_embed_class)
  timm_reg4_f32      vit_*_reg4_dinov2: 4 register tokens, LayerScale, no head (a backbone)
  hf_dinov2_cls_f32  Dinov2ForImageClassification: LayerScale (layer_scale*.lambda1), head on
                     [class token, patch mean], position embedding on a 5x5 grid run at 4x4
  hf_dinov2_f32      Dinov2Model (a backbone saved without the "dinov2." prefix)
  hf_vit_multilabel_f32  ViT with problem_type multi_label_classification
and two existing fixtures at a non-native input size (hf_vit_f32 at 40, timm_f32 at 48).
Per image: logits, attention (L, H, T, T), the rollout, the final-normed
tokens (T, D), the head's input ("pooled") and, with a head, the attribution map.

  /usr/bin/python3 models/make_family_fixtures.py tests/fixtures
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from make_fixtures import IMG, P, D, H, L, MLP, K, LABELS, MEAN, STD, rollout, attribution  # noqa: E402
from make_fixtures import timm_input, hf_input  # noqa: E402

IMAGES = ("img0.png", "img1.png", "wide.png")


def rnd(gen, *shape, scale=1.0, base=0.0):
    return base + scale * torch.randn(*shape, generator=gen)


def make_weights(gen, grid, n_prefix_pos, head_in=D, head=True):
    """Canonical slots (fused qkv, PyTorch (out, in) Linear weights)."""
    c = {"patch_w": rnd(gen, D, 3, P, P, scale=0.1), "patch_b": rnd(gen, D, scale=0.1),
         "cls": rnd(gen, 1, 1, D, scale=0.5), "pos": rnd(gen, 1, n_prefix_pos + grid * grid, D, scale=0.5),
         "norm_w": rnd(gen, D, scale=0.2, base=1.0), "norm_b": rnd(gen, D, scale=0.1), "blocks": []}
    if head:
        c["head_w"], c["head_b"] = rnd(gen, K, head_in, scale=0.3), rnd(gen, K, scale=0.1)
    for _ in range(L):
        c["blocks"].append({
            "ln1_w": rnd(gen, D, scale=0.2, base=1.0), "ln1_b": rnd(gen, D, scale=0.1),
            "qkv_w": rnd(gen, 3 * D, D, scale=0.35), "qkv_b": rnd(gen, 3 * D, scale=0.1),
            "proj_w": rnd(gen, D, D, scale=0.15), "proj_b": rnd(gen, D, scale=0.1),
            "ls1": rnd(gen, D, scale=0.3, base=0.8),
            "ln2_w": rnd(gen, D, scale=0.2, base=1.0), "ln2_b": rnd(gen, D, scale=0.1),
            "fc1_w": rnd(gen, MLP, D, scale=0.15), "fc1_b": rnd(gen, MLP, scale=0.1),
            "fc2_w": rnd(gen, D, MLP, scale=0.1), "fc2_b": rnd(gen, D, scale=0.1),
            "ls2": rnd(gen, D, scale=0.3, base=0.8)})
    return c


def resample(grid_pos, old, new, antialias):
    """(1, old*old, D) -> (1, new_h*new_w, D) as HF (bicubic) or timm (bicubic, antialias) do it."""
    if (old, old) == tuple(new):
        return grid_pos
    g = grid_pos.reshape(1, old, old, D).permute(0, 3, 1, 2)
    g = F.interpolate(g, size=tuple(new), mode="bicubic", align_corners=False, antialias=antialias)
    return g.permute(0, 2, 3, 1).reshape(1, -1, D)


def forward(c, x, m, atts_out=None):
    """m: dict(prefix=tensor (1, np, D), pos_prefix=bool, grid=(gh, gw), pos_grid=int,
    antialias=bool, layer_scale=bool, pool='token'|'cls_avg'|None, eps).
    Returns logits (B, K) or None, attention (L, B, H, T, T), tokens (B, T, D), pooled (B, F)."""
    B = x.shape[0]
    n_pos_prefix = m["prefix"].shape[1] if m["pos_prefix"] else 0
    pos_patch = resample(c["pos"][:, n_pos_prefix:], m["pos_grid"], m["grid"], m["antialias"])
    t = F.conv2d(x, c["patch_w"], c["patch_b"], stride=P).flatten(2).transpose(1, 2)
    prefix = m["prefix"].expand(B, -1, -1)
    if m["pos_prefix"]:  # HF / timm default: positions for the prefix tokens too
        t = torch.cat([prefix, t], 1) + torch.cat([c["pos"][:, :n_pos_prefix], pos_patch], 1)
    else:  # timm no_embed_class: the prefix tokens get no position
        t = torch.cat([prefix, t + pos_patch], 1)
    T, eps, atts = t.shape[1], m["eps"], []
    for b in c["blocks"]:
        h = F.layer_norm(t, (D,), b["ln1_w"], b["ln1_b"], eps)
        q, k, v = (h @ b["qkv_w"].T + b["qkv_b"]).split(D, -1)
        q, k, v = (z.view(B, T, H, D // H).transpose(1, 2) for z in (q, k, v))
        a = ((q @ k.transpose(-1, -2)) * (D // H) ** -0.5).softmax(-1)
        atts.append(a)
        o = (a @ v).transpose(1, 2).reshape(B, T, D) @ b["proj_w"].T + b["proj_b"]
        t = t + (o * b["ls1"] if m["layer_scale"] else o)
        h = F.layer_norm(t, (D,), b["ln2_w"], b["ln2_b"], eps)
        o = F.gelu(h @ b["fc1_w"].T + b["fc1_b"]) @ b["fc2_w"].T + b["fc2_b"]
        t = t + (o * b["ls2"] if m["layer_scale"] else o)
    if atts_out is not None:
        atts_out.extend(atts)
    t = F.layer_norm(t, (D,), c["norm_w"], c["norm_b"], eps)
    n_prefix = m["prefix"].shape[1]
    pooled = torch.cat([t[:, 0], t[:, n_prefix:].mean(1)], 1) if m["pool"] == "cls_avg" else t[:, 0]
    logits = pooled @ c["head_w"].T + c["head_b"] if "head_w" in c else None
    return logits, torch.stack(atts), t, pooled


def attention_grads(c, xi, m, cls):
    atts = []
    lg, _, _, _ = forward(c, xi.clone().requires_grad_(True), m, atts)
    return torch.stack(torch.autograd.grad(lg[0, cls], atts))[:, 0]


# ----------------------------------------------------------------- writers
def blocks_timm(c, sd, layer_scale):
    for i, b in enumerate(c["blocks"]):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": b["ln1_w"], p + "norm1.bias": b["ln1_b"],
                   p + "attn.qkv.weight": b["qkv_w"], p + "attn.qkv.bias": b["qkv_b"],
                   p + "attn.proj.weight": b["proj_w"], p + "attn.proj.bias": b["proj_b"],
                   p + "norm2.weight": b["ln2_w"], p + "norm2.bias": b["ln2_b"],
                   p + "mlp.fc1.weight": b["fc1_w"], p + "mlp.fc1.bias": b["fc1_b"],
                   p + "mlp.fc2.weight": b["fc2_w"], p + "mlp.fc2.bias": b["fc2_b"]})
        if layer_scale:
            sd[p + "ls1.gamma"], sd[p + "ls2.gamma"] = b["ls1"], b["ls2"]
    return sd


def to_timm(c, reg=None):
    sd = {"cls_token": c["cls"], "pos_embed": c["pos"], "patch_embed.proj.weight": c["patch_w"],
          "patch_embed.proj.bias": c["patch_b"], "norm.weight": c["norm_w"], "norm.bias": c["norm_b"]}
    if reg is not None:
        sd["reg_token"] = reg
    if "head_w" in c:
        sd["head.weight"], sd["head.bias"] = c["head_w"], c["head_b"]
    return blocks_timm(c, sd, True)


def to_hf_dinov2(c, root):
    sd = {f"{root}embeddings.cls_token": c["cls"], f"{root}embeddings.mask_token": torch.zeros(1, D),
          f"{root}embeddings.position_embeddings": c["pos"],
          f"{root}embeddings.patch_embeddings.projection.weight": c["patch_w"],
          f"{root}embeddings.patch_embeddings.projection.bias": c["patch_b"],
          f"{root}layernorm.weight": c["norm_w"], f"{root}layernorm.bias": c["norm_b"]}
    if "head_w" in c:
        sd["classifier.weight"], sd["classifier.bias"] = c["head_w"], c["head_b"]
    for i, b in enumerate(c["blocks"]):
        p = f"{root}encoder.layer.{i}."
        q, k, v = b["qkv_w"].split(D, 0)
        qb, kb, vb = b["qkv_b"].split(D, 0)
        sd.update({p + "norm1.weight": b["ln1_w"], p + "norm1.bias": b["ln1_b"],
                   p + "attention.attention.query.weight": q, p + "attention.attention.query.bias": qb,
                   p + "attention.attention.key.weight": k, p + "attention.attention.key.bias": kb,
                   p + "attention.attention.value.weight": v, p + "attention.attention.value.bias": vb,
                   p + "attention.output.dense.weight": b["proj_w"], p + "attention.output.dense.bias": b["proj_b"],
                   p + "layer_scale1.lambda1": b["ls1"], p + "layer_scale2.lambda1": b["ls2"],
                   p + "norm2.weight": b["ln2_w"], p + "norm2.bias": b["ln2_b"],
                   p + "mlp.fc1.weight": b["fc1_w"], p + "mlp.fc1.bias": b["fc1_b"],
                   p + "mlp.fc2.weight": b["fc2_w"], p + "mlp.fc2.bias": b["fc2_b"]})
    return sd


def save_dir(path, sd, config, pre=None):
    os.makedirs(path, exist_ok=True)
    safetensors_io.save({k: v.contiguous().float() for k, v in sd.items()},
                        os.path.join(path, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if pre is not None:
        with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)


def hf_shortest_edge_input(img, pre):
    """BitImageProcessor: shortest edge resized (the long one int(s * long / short)), center crop."""
    s, (w, h) = pre["size"]["shortest_edge"], img.size
    nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    a = np.asarray(img.resize((nw, nh), resample=pre["resample"])).astype(np.float32)
    ch, cw = pre["crop_size"]["height"], pre["crop_size"]["width"]
    top, left = (a.shape[0] - ch) // 2, (a.shape[1] - cw) // 2
    a = a[top:top + ch, left:left + cw]
    a = (a * pre["rescale_factor"] - np.array(pre["image_mean"], np.float32)) / np.array(pre["image_std"], np.float32)
    return torch.from_numpy(a).permute(2, 0, 1).float()


def results(c, m, prep, imgs, with_grads):
    res = {}
    n_prefix = m["prefix"].shape[1]
    for iname in IMAGES:
        xi = prep(imgs[iname]).unsqueeze(0)
        with torch.no_grad():
            lg, att, tok, pooled = forward(c, xi, m)
        a = att[:, 0]
        r = {"attention": a.flatten().tolist(), "rollout_mean": rollout(a, "mean", n_prefix),
             "tokens": tok[0].flatten().tolist(), "pooled": pooled[0].tolist(),
             "input_first_values": xi.flatten()[:8].tolist()}
        if lg is not None:
            r["logits"] = lg[0].tolist()
            r["sigmoid"] = torch.sigmoid(lg[0]).tolist()
        if lg is not None and with_grads:
            top = int(lg[0].argmax())
            r["attribution_top"] = {"class": top, "map": attribution(a, attention_grads(c, xi, m, top), n_prefix)}
        res[iname] = r
    return res


def main(out):
    gen = torch.Generator().manual_seed(4321)
    imgs = {k: Image.open(os.path.join(out, "images", k)).convert("RGB") for k in IMAGES}
    id2label = {str(i): l for i, l in enumerate(LABELS)}
    timm_pc = {"input_size": [3, IMG, IMG], "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center",
               "mean": MEAN, "std": STD, "num_classes": K, "first_conv": "patch_embed.proj", "classifier": "head"}
    expected = {}

    def record(name, c, m, prep, input_size, head=True, grads=True):
        n_prefix = m["prefix"].shape[1]
        gh, gw = m["grid"]
        expected[name] = {"n_prefix": n_prefix, "tokens": n_prefix + gh * gw, "layers": L, "heads": H,
                          "input": list(input_size), "images": results(c, m, prep, imgs, head and grads)}
        print(f"{name}: {len(expected[name]['images'])} images")

    # DeiT III (timm): LayerScale, pos_embed without the class row.
    g = IMG // P
    c = make_weights(gen, g, 0)
    save_dir(os.path.join(out, "timm_deit3_f32"), to_timm(c),
             {"architecture": "deit3_tiny_patch8_32", "num_classes": K, "num_features": D, "global_pool": "token",
              "pretrained_cfg": timm_pc, "label_names": LABELS})
    m = {"prefix": c["cls"], "pos_prefix": False, "grid": (g, g), "pos_grid": g, "antialias": True,
         "layer_scale": True, "pool": "token", "eps": 1e-6}
    record("timm_deit3_f32", c, m, lambda im: timm_input(im, timm_pc), (IMG, IMG))

    # timm vit_*_reg4_dinov2: class + 4 registers, no class position, a backbone at its native 48 and at 32.
    reg = rnd(gen, 1, 4, D, scale=0.5)
    c = make_weights(gen, 6, 0, head=False)
    pc48 = dict(timm_pc, input_size=[3, 48, 48], num_classes=0)
    save_dir(os.path.join(out, "timm_reg4_f32"), to_timm(c, reg),
             {"architecture": "vit_tiny_patch8_reg4_dinov2", "num_classes": 0, "num_features": D,
              "global_pool": "token", "pretrained_cfg": pc48})
    m = {"prefix": torch.cat([c["cls"], reg], 1), "pos_prefix": False, "grid": (6, 6), "pos_grid": 6,
         "antialias": True, "layer_scale": True, "pool": "token", "eps": 1e-6}
    prep48 = lambda im: timm_input_sized(im, pc48, 48)  # noqa: E731
    record("timm_reg4_f32", c, m, prep48, (48, 48), head=False)
    m32 = dict(m, grid=(4, 4))
    record("timm_reg4_f32@32", c, m32, lambda im: timm_input_sized(im, pc48, 32), (32, 32), head=False)

    # HF Dinov2ForImageClassification: config image_size 40 (5x5 positions), processor crop 32 (4x4 grid).
    dino_cfg = {"architectures": ["Dinov2ForImageClassification"], "model_type": "dinov2", "hidden_size": D,
                "num_hidden_layers": L, "num_attention_heads": H, "mlp_ratio": MLP / D, "hidden_act": "gelu",
                "layer_norm_eps": 1e-6, "image_size": 40, "patch_size": P, "num_channels": 3, "qkv_bias": True,
                "layerscale_value": 1.0, "use_swiglu_ffn": False, "id2label": id2label}
    dino_pre = {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": 36},
                "resample": 3, "do_center_crop": True, "crop_size": {"height": IMG, "width": IMG},
                "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": MEAN, "image_std": STD, "do_convert_rgb": True}
    c = make_weights(gen, 5, 1, head_in=2 * D)
    save_dir(os.path.join(out, "hf_dinov2_cls_f32"), to_hf_dinov2(c, "dinov2."), dino_cfg, dino_pre)
    m = {"prefix": c["cls"], "pos_prefix": True, "grid": (4, 4), "pos_grid": 5, "antialias": False,
         "layer_scale": True, "pool": "cls_avg", "eps": 1e-6}
    record("hf_dinov2_cls_f32", c, m, lambda im: hf_shortest_edge_input(im, dino_pre), (IMG, IMG))

    # HF Dinov2Model: the backbone, saved without the "dinov2." prefix.
    c = make_weights(gen, 5, 1, head=False)
    save_dir(os.path.join(out, "hf_dinov2_f32"), to_hf_dinov2(c, ""),
             dict(dino_cfg, architectures=["Dinov2Model"]), dino_pre)
    m = dict(m, prefix=c["cls"], pool="token")
    record("hf_dinov2_f32", c, m, lambda im: hf_shortest_edge_input(im, dino_pre), (IMG, IMG), head=False)

    # The existing plain fixtures at a non-native size: HF ViT at 40 (bicubic), timm at 48 (antialiased).
    base = load_canonical(os.path.join(out, "timm_f32", "model.safetensors"))
    hf_pre40 = {"size": {"height": 40, "width": 40}, "resample": 2, "rescale_factor": 1 / 255,
                "image_mean": MEAN, "image_std": STD}
    m = {"prefix": base["cls"], "pos_prefix": True, "grid": (5, 5), "pos_grid": 4, "antialias": False,
         "layer_scale": False, "pool": "token", "eps": 1e-6}
    record("hf_vit_f32@40", base, m, lambda im: hf_input(im, hf_pre40), (40, 40))
    m = dict(m, grid=(6, 6), antialias=True)
    record("timm_f32@48", base, m, lambda im: timm_input_sized(im, timm_pc, 48), (48, 48))

    # Multi-label: the hf_vit weights, problem_type multi_label_classification.
    src = os.path.join(out, "hf_vit_f32")
    dst = os.path.join(out, "hf_vit_multilabel_f32")
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["problem_type"] = "multi_label_classification"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("model.safetensors", "preprocessor_config.json"):
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(dst, name), "wb") as b:
            b.write(a.read())

    with open(os.path.join(out, "families.json"), "w") as f:
        json.dump(expected, f)
    print(f"wrote {os.path.join(out, 'families.json')}")


def timm_input_sized(img, pc, size):
    """timm's eval transform for an input of size x size (crop_pct from the config)."""
    import torchvision.transforms as TV
    scale = math.floor(size / pc["crop_pct"])
    t = TV.Compose([TV.Resize(scale, interpolation=TV.InterpolationMode.BICUBIC), TV.CenterCrop(size),
                    TV.ToTensor(), TV.Normalize(pc["mean"], pc["std"])])
    return t(img)


def load_canonical(path):
    """The timm fixture's weights back into the canonical slots (no LayerScale)."""
    sd = safetensors_io.load(path)
    c = {"patch_w": sd["patch_embed.proj.weight"], "patch_b": sd["patch_embed.proj.bias"], "cls": sd["cls_token"],
         "pos": sd["pos_embed"], "norm_w": sd["norm.weight"], "norm_b": sd["norm.bias"],
         "head_w": sd["head.weight"], "head_b": sd["head.bias"], "blocks": []}
    for i in range(L):
        p = f"blocks.{i}."
        c["blocks"].append({k: sd[p + v] for k, v in (
            ("ln1_w", "norm1.weight"), ("ln1_b", "norm1.bias"), ("qkv_w", "attn.qkv.weight"), ("qkv_b", "attn.qkv.bias"),
            ("proj_w", "attn.proj.weight"), ("proj_b", "attn.proj.bias"), ("ln2_w", "norm2.weight"),
            ("ln2_b", "norm2.bias"), ("fc1_w", "mlp.fc1.weight"), ("fc1_b", "mlp.fc1.bias"),
            ("fc2_w", "mlp.fc2.weight"), ("fc2_b", "mlp.fc2.bias"))})
    return c


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
