#!/usr/bin/env bash
# vitlens vs ONNX Runtime and PyTorch on ViT-Ti/S/B (224, patch 16, random
# weights), interleaved, at 1 and 2 threads, with a oneDNN matmul probe
# beside each measurement. Prints one markdown table of medians and ratios,
# then every target of the performance issue with its figure and MET / MISSED.
#
#   bash bench/compare_peers.sh
# env: MODELS=vit_tiny,vit_small,vit_base BATCHES=1,8 THREADS="1 2" ROUNDS=1 SECS=4 WORK=/tmp/vitlens-peers
# Installs onnxruntime-node (npm) into $WORK if missing; needs Debian's python3-torch.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/vitlens-peers}
MODELS=${MODELS:-vit_tiny,vit_small,vit_base}
BATCHES=${BATCHES:-1,8}
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-1}
SECS=${SECS:-4}
VITLENS=${VITLENS:-$ROOT/build/bin/vitlens}
OUT="$WORK/results.jsonl"
log() { echo "[compare $(date +%T)] $*" >&2; }
mkdir -p "$WORK"
[ -x "$VITLENS" ] || { log "build vitlens first (bash scripts/build.sh)"; exit 1; }
if [ ! -d "$WORK/node_modules/onnxruntime-node" ]; then
  log "installing onnxruntime-node into $WORK"
  (cd "$WORK" && npm init -y >/dev/null && ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node --onnxruntime-node-install=skip >/dev/null 2>&1) ||
    { log "npm install onnxruntime-node failed"; exit 1; }
fi
log "exporting models (once)"
/usr/bin/python3 "$HERE/export_models.py" "$WORK/models"
g++ -O2 -std=c++17 "$HERE/peak.cpp" -fopenmp -ldnnl -o "$WORK/peak"
: > "$OUT"
tag() { sed "s/^{/{\"round\": $r, /" >> "$OUT"; }
for r in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    for m in ${MODELS//,/ }; do
      for b in ${BATCHES//,/ }; do
        log "round $r: $m batch $b, $t thread(s)"
        "$WORK/peak" "$t" 1 | tag
        run_vitlens() {
          for p in f32 bf16; do
            "$VITLENS" bench --model "$WORK/models/$m" --batch "$b" --threads "$t" --precision "$p" \
              --iters $(( b == 1 ? 20 : 5 )) --warmup 2 --format json | sed 's/^{/{"engine": "vitlens", /' | tag
          done
        }
        run_ort() { NODE_PATH="$WORK/node_modules" node "$HERE/ort_bench.js" "$WORK/models" "$m" "$b" "$SECS" "$t" | tag; }
        run_torch() {
          OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$HERE/torch_bench.py" "$m" "$b" "$SECS" "$t" eager,jit | tag
          OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$HERE/torch_bench.py" "$m" "$b" "$SECS" "$t" bf16 | tag
        }
        if [ $(( r % 2 )) -eq 1 ]; then run_vitlens; run_ort; run_torch; else run_torch; run_ort; run_vitlens; fi
        "$WORK/peak" "$t" 1 | tag
      done
    done
  done
done
# The targets that are not throughput: load time and memory (ViT-B, batch 1,
# f32, default threads), attention-capture overhead, bf16/f32 agreement.
r=0
log "ViT-B load time and peak RSS (3 runs)"
for i in 1 2 3; do
  "$VITLENS" bench --model "$WORK/models/vit_base" --batch 1 --iters 3 --warmup 1 --format json |
    sed 's/^{/{"engine": "vitlens-load", /' | tag
done
log "attention capture overhead, 1 thread, batch 1 (interleaved, 3 rounds)"
BUNDLED="$ROOT/assets/models/vit-fashion-mnist"
for i in 1 2 3; do
  for m in "$BUNDLED" "$WORK/models/vit_tiny" "$WORK/models/vit_base"; do
    iters=$([ "$m" = "$WORK/models/vit_base" ] && echo 10 || echo 100)
    for a in "" --attention; do
      "$VITLENS" bench --model "$m" --batch 1 --threads 1 --iters "$iters" --warmup 3 $a --format json |
        sed 's/^{/{"engine": "vitlens-capture", /' | tag
    done
  done
done
DATA=/usr/share/datasets/fashion-mnist
if [ -f "$DATA/t10k-images-idx3-ubyte.gz" ]; then
  log "bf16 vs f32 top-1 on the bundled model's 10,000 test images"
  for p in f32 bf16; do
    "$VITLENS" eval --idx "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz" --precision "$p" \
      --predictions "$WORK/pred_$p.csv" --overwrite --format json >/dev/null
  done
  /usr/bin/python3 - "$WORK/pred_f32.csv" "$WORK/pred_bf16.csv" <<'PY' | tag
import csv, json, sys
a, b = (list(csv.DictReader(open(f))) for f in sys.argv[1:3])
same = sum(x["predicted"] == y["predicted"] for x, y in zip(a, b))
print(json.dumps({"engine": "agreement", "images": len(a), "same_top1": same}))
PY
fi
/usr/bin/python3 "$HERE/summarize.py" "$OUT"
