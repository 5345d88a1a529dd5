#!/usr/bin/env bash
# SFT with LLaMA-Factory from a recipe in LLaMA-Factory/recipes (thin wrapper over `camreasoner sft`):
# checks every dataset item and video first, resumes from the last checkpoint, saves curves.
#   bash local_scripts/run_sft.sh                 # the seed's 7B full SFT, every visible GPU, ZeRO-3
#   RECIPE=qwen2_5_vl_7b_lora_sft NPROC_PER_NODE=4 bash local_scripts/run_sft.sh num_train_epochs=1
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash local_scripts/run_sft.sh   # on each node
# Env (defaults): RECIPE (qwen2_5_vl_7b_full_sft: the seed's protocol; *_camreasoner: ours),
# MODEL_PATH (the recipe's), DATA (the recipe's dataset names), DATASET_DIR (the recipe's),
# MEDIA_DIR (the recipe's), OUTPUT_DIR (the recipe's), NPROC_PER_NODE (every visible GPU),
# NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), MASTER_PORT (29500), VENV (.venv).
# Extra arguments are LLaMA-Factory key=value overrides, applied last.
# Pinned: llamafactory 0.9.5.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
RECIPE="${RECIPE:-qwen2_5_vl_7b_full_sft}"
# NPROC_PER_NODE unset: camreasoner.sft starts one process per visible GPU
export NNODES="${NNODES:-1}" NODE_RANK="${NODE_RANK:-0}"
export MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}" MASTER_PORT="${MASTER_PORT:-29500}"
args=(--recipe "$RECIPE")
[[ -n "${MODEL_PATH:-}" ]] && args+=(--model "$MODEL_PATH")
[[ -n "${DATA:-}" ]] && args+=(--dataset "$DATA")
[[ -n "${DATASET_DIR:-}" ]] && args+=(--dataset-dir "$DATASET_DIR")
[[ -n "${MEDIA_DIR:-}" ]] && args+=(--media-dir "$MEDIA_DIR")
[[ -n "${OUTPUT_DIR:-}" ]] && args+=(--out "$OUTPUT_DIR")
exec "$VENV/bin/python" -m camreasoner sft "${args[@]}" "$@"
