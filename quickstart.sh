#!/usr/bin/env bash
# Set up gristmill in .venv and run the quickstart pipeline (offline, on this machine's own Python docs).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
export HF_HUB_OFFLINE=1
.venv/bin/gristmill run configs/quickstart.yaml "$@"
