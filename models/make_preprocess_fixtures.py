#!/usr/bin/env python3
"""Reference preprocessing outputs for cases the model fixtures do not cover.

timm crop_mode=border, written from timm's transforms (timm is not packaged
in Debian): ResizeKeepRatio(floor(size / crop_pct), longest=1) -- scale so the
image fits, sizes rounded with Python's round() -- then CenterCropOrPad(size,
fill=[round(255 * m) for m in mean]): pad left/top (d // 2), right/bottom
((d + 1) // 2) with the mean colour, then crop at int(round(delta / 2.0)).
Then ToTensor and Normalize. Uses Pillow's bicubic resize, as torchvision
does on PIL images.

    /usr/bin/python3 models/make_preprocess_fixtures.py tests/fixtures
"""
import json
import math
import os
import sys

import numpy as np
from PIL import Image


def timm_border(img, size, crop_pct, mean, std):
    th, tw = (math.floor(s / crop_pct) for s in size)
    ratio = max(img.height / th, img.width / tw)
    w, h = round(img.width / ratio), round(img.height / ratio)
    a = np.asarray(img.resize((w, h), Image.BICUBIC)).astype(np.float32)
    ch, cw = size
    fill = [round(255 * m) for m in mean]
    pl, pt = ((cw - w) // 2 if cw > w else 0), ((ch - h) // 2 if ch > h else 0)
    pr, pb = ((cw - w + 1) // 2 if cw > w else 0), ((ch - h + 1) // 2 if ch > h else 0)
    if pl or pt or pr or pb:
        padded = np.empty((h + pt + pb, w + pl + pr, 3), np.float32)
        padded[:] = np.array(fill, np.float32)
        padded[pt:pt + h, pl:pl + w] = a
        a = padded
    top, left = int(round((a.shape[0] - ch) / 2.0)), int(round((a.shape[1] - cw) / 2.0))
    a = a[top:top + ch, left:left + cw]
    a = (a / 255.0 - np.array(mean, np.float32)) / np.array(std, np.float32)
    return a.transpose(2, 0, 1), {"resized": [w, h], "pad_ltrb": [pl, pt, pr, pb], "fill": fill}


def main(out):
    mean, std = [0.5, 0.4, 0.3], [0.25, 0.3, 0.2]
    cases = []
    for name in ("wide.png", "img0.png"):
        img = Image.open(os.path.join(out, "images", name)).convert("RGB")
        for crop_pct in (0.875, 1.0):
            x, info = timm_border(img, (32, 32), crop_pct, mean, std)
            cases.append({"image": name, "crop_pct": crop_pct, "input_size": [3, 32, 32], "mean": mean, "std": std,
                          "interpolation": "bicubic", "crop_mode": "border", "info": info,
                          "values": [round(float(v), 7) for v in x.flatten()]})
            print(f"{name} crop_pct {crop_pct}: resized {info['resized']}, pad {info['pad_ltrb']}, fill {info['fill']}")
    path = os.path.join(out, "preprocess_timm_border.json")
    with open(path, "w") as f:
        json.dump({"cases": cases}, f)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
