#!/usr/bin/env bash
# GRPO on verl with our rewards and EMA-GRPO, then the checkpoint merged to a Hugging Face folder.
#   bash local_scripts/run_rl.sh                                   # 7B recipe, 8 GPUs
#   RECIPE=qwen2_5_vl_3b_grpo NGPUS=4 bash local_scripts/run_rl.sh trainer.total_epochs=2
#   NGPUS=1 TP=1 bash local_scripts/run_rl.sh data.train_batch_size=8 actor_rollout_ref.rollout.n=4
#   RECIPE=tiny_gpu_grpo NGPUS=1 VISION=tiny MODEL_PATH=... bash local_scripts/run_rl.sh  # one GPU
# Multi-node: `ray start --head` on node 0 and `ray start --address=<node0>:6379` on the others,
# then run this on node 0 with NNODES=<n>.
# Env (defaults): MODEL_PATH (outputs/sft/qwen2_5_vl_7b), TRAIN_FILE (data_root/data/camerabench_rl.json:
# parquet, items .jsonl or OneThinker .json, converted and checked first), VAL_FILE (none),
# VIDEO_ROOT (data_root/train_videos), RECIPE (qwen2_5_vl_7b_grpo, in EasyR1/), NGPUS (8),
# NNODES (1), TP (1), VISION (default: the vision preset written into converted parquet; tiny for
# the tiny model), OUTPUT_DIR (outputs/rl/$RECIPE), VENV (.venv-gpu, else .venv), PYTHON
# ($VENV/bin/python; e.g. python3 where the packages are on PYTHONPATH).
# Extra arguments are Hydra overrides for verl (key=value), applied last.
# Pinned: verl 0.9.1 + vLLM 0.24.0 (requirements/gpu.lock.txt, scripts/setup_env.sh --gpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-$([[ -x .venv-gpu/bin/python ]] && echo .venv-gpu || echo .venv)}"
PYTHON="${PYTHON:-$VENV/bin/python}"
MODEL_PATH="${MODEL_PATH:-outputs/sft/qwen2_5_vl_7b}"
TRAIN_FILE="${TRAIN_FILE:-data_root/data/camerabench_rl.json}"
VAL_FILE="${VAL_FILE:-}"
VIDEO_ROOT="${VIDEO_ROOT:-data_root/train_videos}"
RECIPE="${RECIPE:-qwen2_5_vl_7b_grpo}"
NGPUS="${NGPUS:-8}"
NNODES="${NNODES:-1}"
TP="${TP:-1}"
VISION="${VISION:-default}"
OUTPUT_DIR="${OUTPUT_DIR:-outputs/rl/$RECIPE}"
exec "$PYTHON" -m camreasoner rl --backend verl --model "$MODEL_PATH" \
  --train-file "$TRAIN_FILE" ${VAL_FILE:+--val-file "$VAL_FILE"} --video-root "$VIDEO_ROOT" \
  --recipe "$RECIPE" --n-gpus "$NGPUS" --n-nodes "$NNODES" --tp "$TP" --vision "$VISION" --output-dir "$OUTPUT_DIR" \
  "$@"
