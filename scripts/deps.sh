#!/usr/bin/env bash
# Installs the Debian 12 packages listed in scripts/deps.txt, only those that
# are missing. Uses sudo only when not root. Run by quickstart.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t VITLENS_PACKAGES < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' deps.txt)
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
