#!/usr/bin/python3
"""Pick assets/samples/: one Fashion-MNIST test image per class, as PNG named
by class, that the bundled model classifies correctly through the C++
pipeline (the first such image in test-set order).

  /usr/bin/python3 models/make_samples.py build/bin/vitlens assets/models/vit-fashion-mnist assets/samples
"""
import csv
import gzip
import io
import os
import subprocess
import sys
import tempfile

from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"


def safe(label):
    return label.replace("/", "_").replace(" ", "_")


def main(vitlens, model, out):
    import json
    labels = [v for _, v in sorted(json.load(open(os.path.join(model, "config.json")))["id2label"].items(),
                                   key=lambda kv: int(kv[0]))]
    imgs = gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz").read()[16:]
    lbls = gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz").read()[8:]
    per_class = {k: [] for k in range(10)}
    for i, y in enumerate(lbls):
        if len(per_class[y]) < 8:
            per_class[y].append(i)
    with tempfile.TemporaryDirectory() as tmp:
        for y, idxs in per_class.items():
            for i in idxs:
                Image.frombytes("L", (28, 28), imgs[i * 784:(i + 1) * 784]).save(f"{tmp}/{y}_{i:05d}.png")
        res = subprocess.run([vitlens, "classify", "--model", model, "--format", "csv", "--top-k", "1", tmp],
                             check=True, capture_output=True, text=True).stdout
        chosen = {}
        for row in csv.DictReader(io.StringIO(res)):
            name = os.path.basename(row["image"])
            y, i = int(name.split("_")[0]), int(name.split("_")[1][:5])
            if y not in chosen and int(row["top1_index"]) == y:
                chosen[y] = (i, float(row["top1_prob"]))
        os.makedirs(out, exist_ok=True)
        for y in range(10):
            if y not in chosen:
                sys.exit(f"no correctly classified candidate for class {labels[y]}")
            i, p = chosen[y]
            Image.frombytes("L", (28, 28), imgs[i * 784:(i + 1) * 784]).save(os.path.join(out, safe(labels[y]) + ".png"))
            print(f"{safe(labels[y])}.png: test image {i}, classified {labels[y]} ({100 * p:.1f}%)")


if __name__ == "__main__":
    main(*sys.argv[1:4])
