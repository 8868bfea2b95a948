#!/usr/bin/env bash
# Set up gristmill with its test extras (and headless Chromium for the report test), then run the tests.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
if [ -x .ci/install-chromium.sh ]; then .ci/install-chromium.sh; fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
