#!/usr/bin/env bash
# Build .venv if missing (pinned, scripts/setup_env.sh), lint with ruff, run the tests on the CPU.
#   bash scripts/test.sh                 # the full tier (what CI runs)
#   bash scripts/test.sh -m "not slow"   # the fast tier: under 90 s on 2 cores
#   bash scripts/test.sh -k answers      # arguments go to pytest
# Env: VENV (default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
VENV="$VENV" bash scripts/setup_env.sh
"$VENV/bin/ruff" check src tests benchmarks maintainers
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/python" -m pytest -q "$@"
