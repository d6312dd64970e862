#!/usr/bin/python3
"""Train vitlens' bundled default model: a small ViT on Fashion-MNIST.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
Output: a Hugging Face ViTForImageClassification checkpoint directory
(config.json, preprocessor_config.json, model.safetensors) that the C++
loader reads like any public checkpoint.

  /usr/bin/python3 models/train_fashion_mnist.py --out assets/models/vit-fashion-mnist

The input is 28x28 RGB (gray replicated), 4x4 patches -> a 7x7 attention grid.
Internally the patch projection sees one channel; at save time its weight is
split evenly over R, G and B, which is exact for gray images.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST train set, pixels scaled to [0, 1]


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class Block(nn.Module):
    """Pre-LN transformer block with HF ViT parameter names."""

    def __init__(self, d, heads, mlp, eps):
        super().__init__()
        self.heads = heads
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)

    def forward(self, x):
        B, T, D = x.shape
        h = self.layernorm_before(x)
        q, k, v = (m(h).view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for m in (self.query, self.key, self.value))
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D // self.heads))
        att = att.softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.fc2(F.gelu(self.fc1(self.layernorm_after(x))))


class ViT(nn.Module):
    def __init__(self, img=28, patch=4, d=96, depth=6, heads=4, mlp=384, classes=10, eps=1e-6):
        super().__init__()
        self.patch = patch
        n = (img // patch) ** 2
        self.proj = nn.Conv2d(1, d, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, n + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, mlp, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(d, eps=eps)
        self.head = nn.Linear(d, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):  # x: (B, 1, H, W), normalised
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x)[:, 0])

    def hf_state_dict(self):
        """The weights under HF ViTForImageClassification names, 3 input channels."""
        p = "vit.embeddings."
        w = self.proj.weight.detach()
        sd = {p + "cls_token": self.cls, p + "position_embeddings": self.pos,
              p + "patch_embeddings.projection.weight": (w / 3).repeat(1, 3, 1, 1),
              p + "patch_embeddings.projection.bias": self.proj.bias,
              "vit.layernorm.weight": self.norm.weight, "vit.layernorm.bias": self.norm.bias,
              "classifier.weight": self.head.weight, "classifier.bias": self.head.bias}
        names = {"layernorm_before": "layernorm_before", "query": "attention.attention.query",
                 "key": "attention.attention.key", "value": "attention.attention.value",
                 "proj": "attention.output.dense", "layernorm_after": "layernorm_after",
                 "fc1": "intermediate.dense", "fc2": "output.dense"}
        for i, b in enumerate(self.blocks):
            for mine, theirs in names.items():
                m = getattr(b, mine)
                sd[f"vit.encoder.layer.{i}.{theirs}.weight"] = m.weight
                sd[f"vit.encoder.layer.{i}.{theirs}.bias"] = m.bias
        return {k: v.detach().float().contiguous() for k, v in sd.items()}


def augment(x, pad, gen):
    """Random crop with zero padding (of the raw image, before normalising) and horizontal flip.
    x: (B, 1, 28, 28) uint8-valued float."""
    B, _, H, W = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    rows = (dy[:, None] + torch.arange(H))[:, :, None]
    cols = (dx[:, None] + torch.arange(W))[:, None, :]
    flip = torch.rand(B, generator=gen) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    return xp[torch.arange(B)[:, None, None], 0, rows, cols].unsqueeze(1)


def normalise(x):
    return (x / 255.0 - MEAN) / STD


@torch.no_grad()
def evaluate(model, x, y, bf16=False, batch=1000):
    """Top-1 accuracy. The final figure is f32 (what vitlens computes); bf16 is
    only for the quick per-epoch progress line (Debian's torch runs f32 matmuls
    on a slow generic BLAS, bf16 ones on oneDNN)."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = model(normalise(x[i:i + batch])).argmax(1)
        correct += (pred == y[i:i + batch]).sum().item()
    model.train()
    return correct / len(x)


def write_checkpoint(model, args, out, acc, seconds):
    tmp = out + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    cfg = {
        "architectures": ["ViTForImageClassification"], "model_type": "vit",
        "hidden_size": args.dim, "num_hidden_layers": args.depth, "num_attention_heads": args.heads,
        "intermediate_size": args.mlp, "hidden_act": "gelu", "layer_norm_eps": 1e-6,
        "image_size": 28, "patch_size": 4, "num_channels": 3, "qkv_bias": True,
        "id2label": {str(i): l for i, l in enumerate(LABELS)},
        "label2id": {l: i for i, l in enumerate(LABELS)},
        "vitlens_training": {"dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)",
                             "epochs": args.epochs, "seed": args.seed,
                             "test_top1_pytorch_f32": round(acc, 6), "train_seconds": round(seconds, 1)},
    }
    pre = {"image_processor_type": "ViTImageProcessor", "do_resize": True,
           "size": {"height": 28, "width": 28}, "resample": 2, "do_rescale": True,
           "rescale_factor": 1 / 255, "do_normalize": True,
           "image_mean": [MEAN] * 3, "image_std": [STD] * 3}
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(tmp, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    safetensors_io.save(model.hf_state_dict(), os.path.join(tmp, "model.safetensors"), {"format": "pt"})
    if os.path.isdir(out):
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
        os.rmdir(tmp)
    else:
        os.replace(tmp, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="assets/models/vit-fashion-mnist")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="bf16 autocast for training steps (evaluation is always f32)")
    ap.add_argument("--limit", type=int, default=0, help="use only N training images (smoke test)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    xtr = read_idx(f"{DATA}/train-images-idx3-ubyte.gz").float().unsqueeze(1)
    ytr = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz").long()
    xte = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz").float().unsqueeze(1)
    yte = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").long()
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]

    model = ViT(d=args.dim, depth=args.depth, heads=args.heads, mlp=args.mlp)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("cls", "pos")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("cls", "pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    total, warm = args.epochs * steps_per_epoch, 2 * steps_per_epoch

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    t0, step, acc = time.time(), 0, 0.0
    print(f"training {sum(p.numel() for p in model.parameters())} parameters, "
          f"{args.epochs} epochs x {steps_per_epoch} steps, bf16={args.bf16}", flush=True)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            x, y = normalise(augment(xtr[idx], 2, gen)), ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
        acc = evaluate(model, xte, yte, bf16=args.bf16)
        el = time.time() - t0
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss_sum / steps_per_epoch:.4f}  "
              f"test top-1 {100 * acc:.2f}% (quick)  elapsed {el / 60:.1f} min  "
              f"eta {el / (epoch + 1) * (args.epochs - epoch - 1) / 60:.1f} min", flush=True)
        write_checkpoint(model, args, args.out, acc, el)  # every epoch: an interrupted run keeps the last one
    acc = evaluate(model, xte, yte, bf16=False)
    el = time.time() - t0
    write_checkpoint(model, args, args.out, acc, el)
    print(f"done in {el / 60:.1f} min; test top-1 (PyTorch, f32) {100 * acc:.2f}% -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
