#!/usr/bin/env bash
# Fetch the base model, CamReasoning SFT/RL data and the training and CameraBench test videos into
# one data root (resumable: complete steps are skipped). Thin wrapper over `camreasoner download`.
#   bash download.sh                              # everything but the released checkpoint
#   bash download.sh --with-checkpoint            # also LaurentWu/CamReasoner-7B
#   bash download.sh --plan                       # list the steps and what is already there
#   bash download.sh --only base-model,test-videos
# Env: DATA_ROOT (default ./data_root), BASE_MODEL (default Qwen/Qwen2.5-VL-7B-Instruct),
#      VENV (default .venv). Extra arguments go to `camreasoner download`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV="${VENV:-.venv}"
DATA_ROOT="${DATA_ROOT:-data_root}"
BASE_MODEL="${BASE_MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}"
PY="${VENV}/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"
exec "$PY" -m camreasoner download --data-root "$DATA_ROOT" --base-model "$BASE_MODEL" "$@"
