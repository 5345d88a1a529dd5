#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone: builds .venv if missing, then runs
# `camreasoner demo` (the shipped motion_captioner base, generated clips, CPU only, no hub access).
#   bash local_scripts/run_demo.sh                 # output in outputs/demo
#   OUT=/tmp/demo bash local_scripts/run_demo.sh
#   bash local_scripts/run_demo.sh --preset ci --set data.train_clips=24 --set rl.steps=4
# Env: OUT (default outputs/demo), VENV (default .venv). Extra arguments go to `camreasoner demo`
# (presets: src/camreasoner/demo/presets/*.yaml, the cpu one by default; --set section.key=value
# changes one setting; `camreasoner demo --help` lists them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
OUT="${OUT:-outputs/demo}"
VENV="$VENV" bash scripts/setup_env.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
export HF_HOME="${HF_HOME:-$PWD/.cache/huggingface}" TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/python" -m camreasoner demo --out "$OUT" "$@"
