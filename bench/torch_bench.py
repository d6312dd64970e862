#!/usr/bin/python3
"""PyTorch timing of one model and batch in several modes -> JSON lines.
  torch_bench.py MODEL BATCH SECONDS THREADS MODES   (modes: eager,jit,bf16)"""
import copy
import json
import statistics
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from export_models import build  # noqa: E402

name, B, secs, threads, modes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
m = build(name)
x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)).repeat(B, 1, 1, 1)
for mode in modes.split(","):
    if mode == "eager":
        f = lambda: m(x)  # noqa: E731
    elif mode == "jit":
        with torch.no_grad():
            tr = torch.jit.freeze(torch.jit.trace(m, x, check_trace=False))
        f = lambda: tr(x)  # noqa: E731
    else:  # bf16: whole model and input cast (autocast breaks torch 1.13's fused MHA path)
        mb, xb = copy.deepcopy(m).to(torch.bfloat16), x.to(torch.bfloat16)
        f = lambda: mb(xb)  # noqa: E731
    with torch.inference_mode():
        t, n = time.perf_counter(), 0
        while n < 2 or time.perf_counter() - t < 1.0:
            f()
            n += 1
        reps = max(5, int(secs / ((time.perf_counter() - t) / n)))
        ts = []
        for _ in range(reps):
            a = time.perf_counter()
            f()
            ts.append((time.perf_counter() - a) * 1e3)
    print(json.dumps({"engine": "torch", "mode": mode, "model": name, "batch": B, "threads": threads,
                      "median_ms": statistics.median(ts), "reps": reps}), flush=True)
