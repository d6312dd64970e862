#!/usr/bin/env bash
# Fresh Debian 12 -> installed dependencies, a build, and the main job on the
# bundled Fashion-MNIST model: classify the sample images and write their
# attention heatmaps to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
echo
echo "== vitlens classify assets/samples"
build/bin/vitlens classify --top-k 3 assets/samples
echo
echo "== vitlens explain --method rollout --scale 8 --out out/ assets/samples"
build/bin/vitlens explain --method rollout --scale 8 --overwrite --out out assets/samples
echo
echo "Overlays written to out/ (one <sample>.rollout.png per image)."
