#!/usr/bin/env bash
# Installs the Debian 12 packages vitlens needs, only those that are missing.
# Uses sudo only when not root. Sourced by quickstart.sh and test.sh.
set -euo pipefail
VITLENS_PACKAGES=(
  build-essential cmake pkg-config
  libopencv-dev libdnnl-dev qt6-base-dev libboost-program-options-dev
  libgtest-dev nlohmann-json3-dev zlib1g-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  dataset-fashion-mnist
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${VITLENS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "vitlens: installing ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
