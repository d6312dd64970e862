#!/usr/bin/python3
"""Write the parity fixtures for vitlens' tests (Debian python3-torch).

Small random-weight ViT checkpoints in the three namings (HF ViT, HF DeiT with
teacher, timm) and the three dtypes (F32, F16, BF16), test images, and the
reference outputs: logits, attention probabilities (L, H, T, T) and the
attention maps (rollout per fusion, last-layer class-token map, a query map).

The plain-ViT reference forward is checked against torchvision's
VisionTransformer on the same weights, so it is an independent reference.

  /usr/bin/python3 models/make_fixtures.py tests/fixtures
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as TV
from PIL import Image
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

IMG, P, D, H, L, MLP, K = 32, 8, 48, 3, 2, 96, 7  # timm: 'tiny' in the name = 3 heads
LABELS = ["apple", "bicycle", "cat", "dog", "elephant", "fish", "guitar"]
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
QUERY = (1, 2)  # patch (row, col) for the query map


# ---------------------------------------------------------------- reference
def canonical_from_torchvision(m):
    """torchvision VisionTransformer weights -> the canonical slots."""
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    c = {"patch_w": sd["conv_proj.weight"], "patch_b": sd["conv_proj.bias"],
         "prefix": sd["class_token"], "pos": sd["encoder.pos_embedding"],
         "norm_w": sd["encoder.ln.weight"], "norm_b": sd["encoder.ln.bias"],
         "head_w": sd["heads.head.weight"], "head_b": sd["heads.head.bias"], "blocks": []}
    for i in range(L):
        p = f"encoder.layers.encoder_layer_{i}."
        c["blocks"].append({
            "ln1_w": sd[p + "ln_1.weight"], "ln1_b": sd[p + "ln_1.bias"],
            "qkv_w": sd[p + "self_attention.in_proj_weight"], "qkv_b": sd[p + "self_attention.in_proj_bias"],
            "proj_w": sd[p + "self_attention.out_proj.weight"], "proj_b": sd[p + "self_attention.out_proj.bias"],
            "ln2_w": sd[p + "ln_2.weight"], "ln2_b": sd[p + "ln_2.bias"],
            "fc1_w": sd[p + "mlp.0.weight"], "fc1_b": sd[p + "mlp.0.bias"],
            "fc2_w": sd[p + "mlp.3.weight"], "fc2_b": sd[p + "mlp.3.bias"]})
    return c


def randomise(c, gen):
    """Every LayerNorm weight and every bias random, so a missing term shows."""
    def r(t, scale, base=0.0):
        return base + scale * torch.randn(t.shape, generator=gen)
    out = {k: v for k, v in c.items() if k != "blocks"}
    out["patch_b"] = r(c["patch_b"], 0.1)
    out["prefix"] = r(c["prefix"], 0.5)
    out["pos"] = r(c["pos"], 0.5)
    out["norm_w"], out["norm_b"] = r(c["norm_w"], 0.2, 1.0), r(c["norm_b"], 0.1)
    out["head_w"], out["head_b"] = r(c["head_w"], 0.3), r(c["head_b"], 0.1)
    out["blocks"] = []
    for b in c["blocks"]:
        nb = dict(b)
        for k in ("ln1_w", "ln2_w"):
            nb[k] = r(b[k], 0.2, 1.0)
        for k in ("ln1_b", "ln2_b", "qkv_b", "proj_b", "fc1_b", "fc2_b"):
            nb[k] = r(b[k], 0.1)
        nb["qkv_w"] = r(b["qkv_w"], 0.35)  # sharper attention than the default init
        out["blocks"].append(nb)
    return out


def forward(c, x, eps, n_prefix, two_heads=False, atts_out=None, pool="token", act="gelu"):
    """Reference ViT forward. x: (B, 3, IMG, IMG) normalised. Returns logits (B, K)
    and attention (L, B, H, T, T); atts_out, if given, receives each layer's
    attention tensor as used in the graph (for gradients)."""
    B = x.shape[0]
    t = F.conv2d(x, c["patch_w"], c["patch_b"], stride=P).flatten(2).transpose(1, 2)
    t = torch.cat([c["prefix"].expand(B, -1, -1), t], 1) + c["pos"]
    T = t.shape[1]
    atts = []
    for b in c["blocks"]:
        h = F.layer_norm(t, (D,), b["ln1_w"], b["ln1_b"], eps)
        q, k, v = (h @ b["qkv_w"].T + b["qkv_b"]).split(D, -1)
        q, k, v = (z.view(B, T, H, D // H).transpose(1, 2) for z in (q, k, v))
        a = ((q @ k.transpose(-1, -2)) / math.sqrt(D // H)).softmax(-1)
        atts.append(a)
        t = t + (a @ v).transpose(1, 2).reshape(B, T, D) @ b["proj_w"].T + b["proj_b"]
        h = F.layer_norm(t, (D,), b["ln2_w"], b["ln2_b"], eps)
        g = F.gelu(h @ b["fc1_w"].T + b["fc1_b"], approximate="tanh" if act != "gelu" else "none")
        t = t + g @ b["fc2_w"].T + b["fc2_b"]
    if atts_out is not None:
        atts_out.extend(atts)
    if pool == "avg" and "fc_norm_w" in c:  # timm global_pool="avg": mean of the patch tokens, then fc_norm
        p = F.layer_norm(t[:, n_prefix:].mean(1), (D,), c["fc_norm_w"], c["fc_norm_b"], eps)
        return p @ c["head_w"].T + c["head_b"], torch.stack(atts)
    if pool == "avg":  # without fc_norm: every token normed, then the patch tokens averaged
        t = F.layer_norm(t, (D,), c["norm_w"], c["norm_b"], eps)
        return t[:, n_prefix:].mean(1) @ c["head_w"].T + c["head_b"], torch.stack(atts)
    t = F.layer_norm(t, (D,), c["norm_w"], c["norm_b"], eps)
    logits = t[:, 0] @ c["head_w"].T + c["head_b"]
    if two_heads:
        logits = (logits + t[:, 1] @ c["head2_w"].T + c["head2_b"]) / 2
    return logits, torch.stack(atts)


# -------------------------------------------------------------------- maps
def fuse(a, how):  # a: (H, T, T)
    return {"mean": a.mean(0), "max": a.max(0).values, "min": a.min(0).values}[how]


def rollout(att, how, n_prefix):
    """Abnar & Zuidema rollout, discard ratio 0. att: (L, H, T, T) for one image."""
    T = att.shape[-1]
    R = torch.eye(T, dtype=torch.float64)
    for l in range(att.shape[0]):
        A = fuse(att[l].double(), how) + torch.eye(T, dtype=torch.float64)
        A = A / A.sum(-1, keepdim=True)
        R = A @ R
    m = R[0, n_prefix:]
    return (m / m.max()).tolist()


def attribution(att, grad, n_prefix, pool="token"):
    """Chefer, Gur, Wolf 2021. att, grad: (L, H, T, T) for one image, grad = d logit_c / d att.
    The class token's row of R; with average pooling, the mean of the patch rows."""
    T = att.shape[-1]
    R = torch.eye(T, dtype=torch.float64)
    for l in range(att.shape[0]):
        abar = (grad[l].double() * att[l].double()).clamp(min=0).mean(0)
        R = R + abar @ R
    m = R[n_prefix:, n_prefix:].mean(0) if pool == "avg" else R[0, n_prefix:]
    return (m / m.max()).tolist()


def attention_grads(c, xi, n_prefix, two, cls, pool="token", act="gelu"):
    """d logit[0, cls] / d attention of every layer by autograd: (L, H, T, T)."""
    atts = []
    lg, _ = forward(c, xi.clone().requires_grad_(True), 1e-6, n_prefix, two, atts, pool, act)
    return torch.stack(torch.autograd.grad(lg[0, cls], atts))[:, 0]


def row_map(att, layer, row, n_prefix):
    m = att[layer].double().mean(0)[row, n_prefix:]
    return (m / m.max()).tolist()


# ----------------------------------------------------------------- writers
def to_hf(c, root, deit):
    sd = {f"{root}.embeddings.cls_token": c["prefix"][:, :1],
          f"{root}.embeddings.position_embeddings": c["pos"],
          f"{root}.embeddings.patch_embeddings.projection.weight": c["patch_w"],
          f"{root}.embeddings.patch_embeddings.projection.bias": c["patch_b"],
          f"{root}.layernorm.weight": c["norm_w"], f"{root}.layernorm.bias": c["norm_b"]}
    if deit:
        sd[f"{root}.embeddings.distillation_token"] = c["prefix"][:, 1:2]
        sd["cls_classifier.weight"], sd["cls_classifier.bias"] = c["head_w"], c["head_b"]
        sd["distillation_classifier.weight"], sd["distillation_classifier.bias"] = c["head2_w"], c["head2_b"]
    else:
        sd["classifier.weight"], sd["classifier.bias"] = c["head_w"], c["head_b"]
        sd[f"{root}.pooler.dense.weight"] = torch.zeros(D, D)  # present in some checkpoints; ignored
        sd[f"{root}.pooler.dense.bias"] = torch.zeros(D)
    for i, b in enumerate(c["blocks"]):
        p = f"{root}.encoder.layer.{i}."
        q, k, v = b["qkv_w"].split(D, 0)
        qb, kb, vb = b["qkv_b"].split(D, 0)
        sd.update({p + "layernorm_before.weight": b["ln1_w"], p + "layernorm_before.bias": b["ln1_b"],
                   p + "attention.attention.query.weight": q, p + "attention.attention.query.bias": qb,
                   p + "attention.attention.key.weight": k, p + "attention.attention.key.bias": kb,
                   p + "attention.attention.value.weight": v, p + "attention.attention.value.bias": vb,
                   p + "attention.output.dense.weight": b["proj_w"], p + "attention.output.dense.bias": b["proj_b"],
                   p + "layernorm_after.weight": b["ln2_w"], p + "layernorm_after.bias": b["ln2_b"],
                   p + "intermediate.dense.weight": b["fc1_w"], p + "intermediate.dense.bias": b["fc1_b"],
                   p + "output.dense.weight": b["fc2_w"], p + "output.dense.bias": b["fc2_b"]})
    return sd


def to_timm(c):
    sd = {"cls_token": c["prefix"], "pos_embed": c["pos"], "patch_embed.proj.weight": c["patch_w"],
          "patch_embed.proj.bias": c["patch_b"], "norm.weight": c["norm_w"], "norm.bias": c["norm_b"],
          "head.weight": c["head_w"], "head.bias": c["head_b"]}
    for i, b in enumerate(c["blocks"]):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": b["ln1_w"], p + "norm1.bias": b["ln1_b"],
                   p + "attn.qkv.weight": b["qkv_w"], p + "attn.qkv.bias": b["qkv_b"],
                   p + "attn.proj.weight": b["proj_w"], p + "attn.proj.bias": b["proj_b"],
                   p + "norm2.weight": b["ln2_w"], p + "norm2.bias": b["ln2_b"],
                   p + "mlp.fc1.weight": b["fc1_w"], p + "mlp.fc1.bias": b["fc1_b"],
                   p + "mlp.fc2.weight": b["fc2_w"], p + "mlp.fc2.bias": b["fc2_b"]})
    return sd


def round_to(c, dtype):
    """The weights as the C++ side will see them after the dtype round trip."""
    def r(v):
        return v.to(dtype).float() if isinstance(v, torch.Tensor) else v
    out = {k: r(v) for k, v in c.items() if k != "blocks"}
    out["blocks"] = [{k: r(v) for k, v in b.items()} for b in c["blocks"]]
    return out


def save_dir(path, sd, dtype, config, pre=None):
    os.makedirs(path, exist_ok=True)
    safetensors_io.save({k: v.contiguous().to(dtype) for k, v in sd.items()},
                        os.path.join(path, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if pre is not None:
        with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)


# ------------------------------------------------------------------ images
def make_images(out):
    rng = np.random.default_rng(7)
    imgs = {}
    yy, xx = np.mgrid[0:IMG, 0:IMG]
    for i in range(3):  # model-sized: preprocessing is exact
        base = np.stack([(np.sin(xx / (3 + i) + c) * 0.5 + 0.5) * 255 for c in range(3)], -1)
        a = np.clip(base * 0.6 + rng.integers(0, 100, (IMG, IMG, 3)), 0, 255).astype(np.uint8)
        imgs[f"img{i}.png"] = a
    yy, xx = np.mgrid[0:41, 0:50]  # other size: exercises resize and crop
    a = np.stack([(np.cos(xx / 5.0) * np.sin(yy / 7.0 + c) * 0.5 + 0.5) * 255 for c in range(3)], -1)
    imgs["wide.png"] = np.clip(a * 0.7 + rng.integers(0, 70, a.shape), 0, 255).astype(np.uint8)
    os.makedirs(out, exist_ok=True)
    for name, a in imgs.items():
        Image.fromarray(a).save(os.path.join(out, name))
    return {k: Image.open(os.path.join(out, k)).convert("RGB") for k in imgs}


MEAN, STD = [0.5, 0.4, 0.3], [0.25, 0.3, 0.2]


def hf_input(img, pre):
    """HF ViTImageProcessor / DeiTImageProcessor semantics on a PIL image."""
    s = pre["size"]
    img = img.resize((s["width"], s["height"]), resample=pre["resample"])
    a = np.asarray(img).astype(np.float32)
    if pre.get("do_center_crop"):
        ch, cw = pre["crop_size"]["height"], pre["crop_size"]["width"]
        top, left = (a.shape[0] - ch) // 2, (a.shape[1] - cw) // 2
        a = a[top:top + ch, left:left + cw]
    a = (a * pre["rescale_factor"] - np.array(pre["image_mean"], np.float32)) / np.array(pre["image_std"], np.float32)
    return torch.from_numpy(a).permute(2, 0, 1).float()


def timm_input(img, pc):
    scale = math.floor(IMG / pc["crop_pct"])
    t = TV.Compose([TV.Resize(scale, interpolation=TV.InterpolationMode.BICUBIC), TV.CenterCrop(IMG),
                    TV.ToTensor(), TV.Normalize(pc["mean"], pc["std"])])
    return t(img)


# -------------------------------------------------------------------- main
def main(out):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    imgs = make_images(os.path.join(out, "images"))

    tv = VisionTransformer(image_size=IMG, patch_size=P, num_layers=L, num_heads=H, hidden_dim=D,
                           mlp_dim=MLP, num_classes=K).eval()
    base = randomise(canonical_from_torchvision(tv), gen)
    # Independent check: the reference forward equals torchvision on the same weights.
    tv_sd = tv.state_dict()
    tv_sd["conv_proj.bias"], tv_sd["class_token"], tv_sd["encoder.pos_embedding"] = base["patch_b"], base["prefix"], base["pos"]
    tv_sd["encoder.ln.weight"], tv_sd["encoder.ln.bias"] = base["norm_w"], base["norm_b"]
    tv_sd["heads.head.weight"], tv_sd["heads.head.bias"] = base["head_w"], base["head_b"]
    for i, b in enumerate(base["blocks"]):
        p = f"encoder.layers.encoder_layer_{i}."
        for mine, theirs in (("ln1_w", "ln_1.weight"), ("ln1_b", "ln_1.bias"), ("qkv_w", "self_attention.in_proj_weight"),
                             ("qkv_b", "self_attention.in_proj_bias"), ("proj_w", "self_attention.out_proj.weight"),
                             ("proj_b", "self_attention.out_proj.bias"), ("ln2_w", "ln_2.weight"), ("ln2_b", "ln_2.bias"),
                             ("fc1_w", "mlp.0.weight"), ("fc1_b", "mlp.0.bias"), ("fc2_w", "mlp.3.weight"), ("fc2_b", "mlp.3.bias")):
            tv_sd[p + theirs] = b[mine]
    tv.load_state_dict(tv_sd)
    x = torch.stack([TV.ToTensor()(imgs["img0.png"]), TV.ToTensor()(imgs["img1.png"])])
    with torch.no_grad():
        ref, _ = forward(base, x, 1e-6, 1)
        err = (tv(x) - ref).abs().max().item()
    print(f"reference forward vs torchvision VisionTransformer: max |dlogit| = {err:.2e}")
    assert err < 1e-4, "reference forward disagrees with torchvision"

    deit = dict(base)
    deit["prefix"] = torch.cat([base["prefix"], 0.5 * torch.randn(1, 1, D, generator=gen)], 1)
    deit["pos"] = torch.cat([base["pos"][:, :1], 0.5 * torch.randn(1, 1, D, generator=gen), base["pos"][:, 1:]], 1)
    deit["head2_w"], deit["head2_b"] = 0.3 * torch.randn(K, D, generator=gen), 0.1 * torch.randn(K, generator=gen)

    id2label = {str(i): l for i, l in enumerate(LABELS)}
    hf_pre = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": IMG, "width": IMG},
              "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
              "image_mean": MEAN, "image_std": STD}
    deit_pre = {"image_processor_type": "DeiTImageProcessor", "do_resize": True, "size": {"height": 36, "width": 36},
                "resample": 3, "do_center_crop": True, "crop_size": {"height": IMG, "width": IMG},
                "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": MEAN, "image_std": STD}
    timm_pc = {"input_size": [3, IMG, IMG], "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center",
               "mean": MEAN, "std": STD, "num_classes": K, "first_conv": "patch_embed.proj", "classifier": "head"}
    hf_cfg = {"hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": MLP,
              "hidden_act": "gelu", "layer_norm_eps": 1e-6, "image_size": IMG, "patch_size": P, "num_channels": 3,
              "qkv_bias": True}

    avg = dict(base)  # timm global_pool="avg" with fc_norm (and no final norm)
    avg["fc_norm_w"], avg["fc_norm_b"] = 1.0 + 0.2 * torch.randn(D, generator=gen), 0.1 * torch.randn(D, generator=gen)
    expected = {"query": list(QUERY), "models": {}}
    models = [(d, t, k) for d, t in DTYPES.items() for k in ("hf_vit", "hf_deit", "timm")]
    extra = [("f32", torch.float32, k) for k in ("timm_avg", "timm_avgnorm", "hf_vit_tanh")]
    for dname, dtype, kind in models + extra:
        pool, act = "token", "gelu"
        name = f"{kind}_{dname}"
        path = os.path.join(out, name)
        if kind == "timm_avg":
            c = round_to(avg, dtype)
            cfg = {"architecture": "vit_tiny_patch8_32", "num_classes": K, "num_features": D,
                   "global_pool": "avg", "pretrained_cfg": timm_pc, "label_names": LABELS}
            sd = {k: v for k, v in to_timm(avg).items() if not k.startswith("norm.")}
            sd["fc_norm.weight"], sd["fc_norm.bias"] = avg["fc_norm_w"], avg["fc_norm_b"]
            save_dir(path, sd, dtype, cfg)
            n_prefix, two, pool, prep = 1, False, "avg", lambda im: timm_input(im, timm_pc)
        elif kind == "timm_avgnorm":  # avg pooling after the final norm, no fc_norm
            c = round_to(base, dtype)
            cfg = {"architecture": "vit_tiny_patch8_32", "num_classes": K, "num_features": D,
                   "global_pool": "avg", "pretrained_cfg": timm_pc, "label_names": LABELS}
            save_dir(path, to_timm(base), dtype, cfg)
            n_prefix, two, pool, prep = 1, False, "avg", lambda im: timm_input(im, timm_pc)
        elif kind == "hf_vit_tanh":  # tanh-approximated GELU
            c = round_to(base, dtype)
            cfg = dict(hf_cfg, architectures=["ViTForImageClassification"], model_type="vit", id2label=id2label,
                       hidden_act="gelu_pytorch_tanh")
            save_dir(path, to_hf(base, "vit", False), dtype, cfg, hf_pre)
            n_prefix, two, act, prep = 1, False, "tanh", lambda im: hf_input(im, hf_pre)
        elif kind == "hf_vit":
            c = round_to(base, dtype)
            cfg = dict(hf_cfg, architectures=["ViTForImageClassification"], model_type="vit",
                       id2label=id2label, label2id={l: i for i, l in enumerate(LABELS)})
            save_dir(path, to_hf(base, "vit", False), dtype, cfg, hf_pre)
            n_prefix, two, prep = 1, False, lambda im: hf_input(im, hf_pre)
        elif kind == "hf_deit":
            c = round_to(deit, dtype)
            # integer keys and values in id2label: both forms occur in the wild
            cfg = dict(hf_cfg, architectures=["DeiTForImageClassificationWithTeacher"], model_type="deit",
                       id2label={str(i): l for i, l in enumerate(LABELS)})
            save_dir(path, to_hf(deit, "deit", True), dtype, cfg, deit_pre)
            n_prefix, two, prep = 2, True, lambda im: hf_input(im, deit_pre)
        else:
            c = round_to(base, dtype)
            cfg = {"architecture": "vit_tiny_patch8_32", "num_classes": K, "num_features": D,
                   "global_pool": "token", "pretrained_cfg": timm_pc, "label_names": LABELS}
            save_dir(path, to_timm(base), dtype, cfg)
            n_prefix, two, prep = 1, False, lambda im: timm_input(im, timm_pc)
        res = {}
        for iname, im in imgs.items():
            xi = prep(im).unsqueeze(0)
            with torch.no_grad():
                lg, att = forward(c, xi, 1e-6, n_prefix, two, None, pool, act)
            a = att[:, 0]  # (L, H, T, T)
            res[iname] = {"logits": lg[0].tolist(),
                          "attention": a.flatten().tolist(),
                          "input_first_values": xi.flatten()[:8].tolist(),
                          "rollout": {f: rollout(a, f, n_prefix) for f in ("mean", "max", "min")},
                          "attention_last_mean": row_map(a, L - 1, 0, n_prefix),
                          "attention_first_mean": row_map(a, 0, 0, n_prefix),
                          "query_last_mean": row_map(a, L - 1, n_prefix + QUERY[0] * (IMG // P) + QUERY[1], n_prefix)}
            top = int(lg[0].argmax())
            other = (top + 3) % K
            g_top, g_other = (attention_grads(c, xi, n_prefix, two, k, pool, act) for k in (top, other))
            res[iname]["attribution"] = {
                "top_class": top, "other_class": other,
                "grad_top": g_top.flatten().tolist(),
                "map_top": attribution(a, g_top, n_prefix, pool),
                "map_other": attribution(a, g_other, n_prefix, pool)}
        expected["models"][name] = {"n_prefix": n_prefix, "tokens": (IMG // P) ** 2 + n_prefix,
                                    "layers": L, "heads": H, "images": res}
        print(f"wrote {path}")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"wrote {os.path.join(out, 'expected.json')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
