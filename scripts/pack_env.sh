#!/usr/bin/env bash
# Build a relocatable Python environment with gristmill (not editable) for `gristmill submit --env-archive`.
# Usage: scripts/pack_env.sh [OUT.tar.gz] [EXTRAS]   e.g. scripts/pack_env.sh gristmill_env.tar.gz gpu
# Build it on the same OS and CPU architecture as the cluster's nodes (or inside their container image).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gristmill_env.tar.gz}"
extras="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/env"
"$work/env/bin/python" -m pip install -q --upgrade pip venv-pack
"$work/env/bin/python" -m pip install -q ".${extras:+[$extras]}"
"$work/env/bin/venv-pack" -p "$work/env" -o "$out" --force
echo "packed $(du -h "$out" | cut -f1) into $out; submit with: gristmill submit CONFIG --master URL --env-archive $out"
