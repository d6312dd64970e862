#!/usr/bin/python3
"""Table of medians and ratios from compare_peers.sh's JSON lines."""
import json
import statistics
import sys
from collections import defaultdict

GFLOP = {"vit_tiny": 2.507, "vit_small": 9.198, "vit_base": 35.128}
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
probe_max = defaultdict(float)
for r in rows:
    if r["engine"] == "probe":
        probe_max[r["threads"]] = max(probe_max[r["threads"]], r["gflops"])
# A round whose probe shows the slow (contended) state is discarded.
probes, times = defaultdict(list), defaultdict(list)
for i, r in enumerate(rows):
    if r["engine"] == "probe":
        continue
    model = r["model"].rsplit("/", 1)[-1]
    key = (model, r["batch"], r["threads"])
    eng = r["engine"] + "-" + (r.get("precision") or r.get("mode"))
    times[key + (r["round"],)].append((eng, r["median_ms"]))
for r in rows:
    if r["engine"] == "probe":
        probes[(r["round"], r["threads"])].append(r["gflops"])
print("| model | batch | threads | vitlens f32 ms | vitlens bf16 ms | ORT f32 ms | torch eager | torch jit | torch bf16 |"
      " ORT/vitlens f32 | best torch f32/vitlens | torch bf16/vitlens bf16 | ORT f32/vitlens bf16 | bf16 speedup |"
      " vitlens f32 % of probe | probe GFLOP/s |")
print("|" + "---|" * 17)
agg = defaultdict(lambda: defaultdict(list))
probe_used = defaultdict(list)
for (model, b, t, rnd), lst in times.items():
    p = statistics.median(probes[(rnd, t)]) if probes[(rnd, t)] else 0
    if p and p < 0.75 * probe_max[t]:
        continue  # slow state
    for eng, ms in lst:
        agg[(model, b, t)][eng].append(ms)
    probe_used[(model, b, t)].append(p)
for key in sorted(agg, key=lambda k: (k[2], list(GFLOP).index(k[0]), k[1])):
    model, b, t = key
    m = {e: statistics.median(v) for e, v in agg[key].items()}
    g = lambda e: m.get(e, float("nan"))  # noqa: E731
    vf, vb, o = g("vitlens-f32"), g("vitlens-bf16"), g("ort-f32")
    te, tj, tb = g("torch-eager"), g("torch-jit"), g("torch-bf16")
    p = statistics.median(probe_used[key])
    pct = 100 * GFLOP[model] * b / (vf / 1e3) / p if p else float("nan")
    print(f"| {model} | {b} | {t} | {vf:.1f} | {vb:.1f} | {o:.1f} | {te:.1f} | {tj:.1f} | {tb:.1f} | "
          f"{o / vf:.2f}x | {min(te, tj) / vf:.2f}x | {tb / vb:.2f}x | {o / vb:.2f}x | {vf / vb:.2f}x | {pct:.0f}% | {p:.0f} |")
