#!/usr/bin/env bash
# GRPO on verl with our reward functions and EMA-GRPO, then the checkpoint merged to a Hugging Face
# folder. Thin wrapper over `camreasoner rl --backend verl`.
#   bash local_scripts/run_rl.sh                                   # the seed's protocol, 7B, 8 GPUs
#   PROTOCOL=camreasoner bash local_scripts/run_rl.sh              # our protocol (videos, consistency)
#   RECIPE=qwen2_5_vl_3b_grpo NGPUS=4 bash local_scripts/run_rl.sh trainer.total_epochs=1
#   NGPUS=1 TP=1 bash local_scripts/run_rl.sh data.train_batch_size=8 actor_rollout_ref.rollout.n=4
#   PROTOCOL=camreasoner RECIPE=tiny_gpu_grpo NGPUS=1 VISION=tiny MODEL_PATH=... bash local_scripts/run_rl.sh
# Multi-node: `ray start --head` on node 0 and `ray start --address=<node0>:6379` on the others,
# then run this on node 0 with NNODES=<n>.
# Env (defaults): PROTOCOL (seed: 1 fps frames as images fitted into 16,384 tokens, reward 0.9
# accuracy + 0.1 format; camreasoner: ours; see camreasoner.protocols), MODEL_PATH
# (outputs/sft/qwen2_5_vl_7b), TRAIN_FILE (data_root/data/camerabench_rl.json: the seed's RL JSON,
# items .jsonl or parquet; checked and converted first), VAL_FILE (none: a 128-row sample of the
# training rows; validation is off in the recipes), VIDEO_ROOT (data_root/train_videos), RECIPE
# (the protocol's: qwen2_5_vl_7b_grpo or qwen2_5_vl_7b_grpo_camreasoner, in EasyR1/), NGPUS (8),
# NNODES (1), TP (1; the seed used 4), VISION (the protocol's; a camreasoner.vision preset name),
# WORKERS (8, frame-decoding processes for the conversion), OUTPUT_DIR (outputs/rl/<recipe>),
# VENV (.venv-gpu, else .venv), PYTHON ($VENV/bin/python; e.g. python3 where the packages are on
# PYTHONPATH).
# Extra arguments are Hydra overrides for verl (key=value), applied last.
# Pinned: verl 0.9.1 + vLLM 0.24.0 (requirements/gpu.lock.txt, scripts/setup_env.sh --gpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-$([[ -x .venv-gpu/bin/python ]] && echo .venv-gpu || echo .venv)}"
PYTHON="${PYTHON:-$VENV/bin/python}"
PROTOCOL="${PROTOCOL:-seed}"
MODEL_PATH="${MODEL_PATH:-outputs/sft/qwen2_5_vl_7b}"
TRAIN_FILE="${TRAIN_FILE:-data_root/data/camerabench_rl.json}"
VAL_FILE="${VAL_FILE:-}"
VIDEO_ROOT="${VIDEO_ROOT:-data_root/train_videos}"
RECIPE="${RECIPE:-}"
NGPUS="${NGPUS:-8}"
NNODES="${NNODES:-1}"
TP="${TP:-1}"
VISION="${VISION:-}"
WORKERS="${WORKERS:-8}"
OUTPUT_DIR="${OUTPUT_DIR:-}"
exec "$PYTHON" -m camreasoner rl --backend verl --protocol "$PROTOCOL" --model "$MODEL_PATH" \
  --train-file "$TRAIN_FILE" ${VAL_FILE:+--val-file "$VAL_FILE"} --video-root "$VIDEO_ROOT" \
  ${RECIPE:+--recipe "$RECIPE"} ${VISION:+--vision "$VISION"} ${OUTPUT_DIR:+--out "$OUTPUT_DIR"} \
  --n-gpus "$NGPUS" --n-nodes "$NNODES" --tensor-parallel-size "$TP" --workers "$WORKERS" \
  "$@"
