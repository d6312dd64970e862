#!/usr/bin/python3
"""The benchmark models, once, for every engine: torchvision ViT-Ti/S/B
(224, patch 16, 1000 classes, seed 0, random head) exported to ONNX for ONNX
Runtime and written as timm-named safetensors checkpoints for vitlens, plus a
reference input and PyTorch's logits for a correctness check.

  /usr/bin/python3 bench/export_models.py OUTDIR
"""
import json
import os
import sys

import numpy as np
import torch
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import safetensors_io  # noqa: E402

CONFIGS = {"vit_tiny": (192, 3), "vit_small": (384, 6), "vit_base": (768, 12)}


def build(name):
    d, heads = CONFIGS[name]
    torch.manual_seed(0)
    m = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=heads, hidden_dim=d,
                          mlp_dim=4 * d, num_classes=1000)
    torch.nn.init.normal_(m.heads.head.weight, std=0.02)
    return m.eval()


def timm_state(m):
    sd = m.state_dict()
    out = {"cls_token": sd["class_token"], "pos_embed": sd["encoder.pos_embedding"],
           "patch_embed.proj.weight": sd["conv_proj.weight"], "patch_embed.proj.bias": sd["conv_proj.bias"],
           "norm.weight": sd["encoder.ln.weight"], "norm.bias": sd["encoder.ln.bias"],
           "head.weight": sd["heads.head.weight"], "head.bias": sd["heads.head.bias"]}
    for i in range(12):
        p, q = f"encoder.layers.encoder_layer_{i}.", f"blocks.{i}."
        for a, b in (("ln_1", "norm1"), ("ln_2", "norm2"), ("self_attention.out_proj", "attn.proj"),
                     ("mlp.0", "mlp.fc1"), ("mlp.3", "mlp.fc2")):
            out[q + b + ".weight"], out[q + b + ".bias"] = sd[p + a + ".weight"], sd[p + a + ".bias"]
        out[q + "attn.qkv.weight"] = sd[p + "self_attention.in_proj_weight"]
        out[q + "attn.qkv.bias"] = sd[p + "self_attention.in_proj_bias"]
    return out


def main(out):
    os.makedirs(out, exist_ok=True)
    for name in CONFIGS:
        if os.path.exists(os.path.join(out, name + ".onnx")):
            continue
        m = build(name)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ref = m(x)
        # grad enabled: torch 1.13's fused MHA fast path (no_grad) has no ONNX export
        torch.onnx.export(m, x, os.path.join(out, name + ".onnx"), opset_version=14, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        np.save(os.path.join(out, name + "_x.npy"), x.numpy())
        np.save(os.path.join(out, name + "_ref.npy"), ref.numpy())
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        safetensors_io.save(timm_state(m), os.path.join(d, "model.safetensors"))
        cfg = {"architecture": name + "_patch16_224", "num_classes": 1000, "global_pool": "token",
               "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9,
                                  "crop_mode": "center", "mean": [0.5] * 3, "std": [0.5] * 3}}
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        print(f"{name}: {out}/{name}.onnx and {d}/", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
