#!/usr/bin/env bash
# Evaluate a checkpoint on CameraBench: run (resumable), score, report.
#   MODEL_PATH=outputs/rl/qwen2_5_vl_7b_grpo/hf bash Evaluation/eval.sh       # the seed's protocol
#   PROTOCOL=official MODEL_PATH=data_root/models/Qwen2.5-VL-7B-Instruct bash Evaluation/eval.sh
#   BACKEND=vllm MODEL_PATH=... bash Evaluation/eval.sh --tensor-parallel-size 2
#   BENCH=bench/camerabench_vqa.jsonl bash Evaluation/eval.sh
# Env (defaults): PROTOCOL (seed: the seed's eval_bench.py — 1 fps frames as images, its prompt
#   tail, greedy, 8,192 new tokens, model length 81,920, answers read its way; camreasoner: our
#   training prompt and video input; official: CameraBench's P(Yes) protocol; see
#   camreasoner.protocols), MODEL_PATH (data_root/models/Qwen2.5-VL-7B-Instruct),
#   BENCH (data_root/data/camerabench_binary.json: the seed's binary file from download.sh; or an
#   item file from `camreasoner data build-benchmark`), VIDEO_ROOT (data_root/camerabench/videos),
#   BACKEND (vllm if importable, else hf), OUT (outputs/eval/<model folder name>-<protocol>),
#   VENV (.venv), CACHE_DIR (.cache/frames), BATCH_SIZE (128 with vllm, as the seed; 8 with hf).
# Extra arguments go to `camreasoner eval run` (e.g. --batch-size 16 --vision tiny).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
PY="${VENV}/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"
PROTOCOL="${PROTOCOL:-seed}"
MODEL_PATH="${MODEL_PATH:-data_root/models/Qwen2.5-VL-7B-Instruct}"
BENCH="${BENCH:-data_root/data/camerabench_binary.json}"
VIDEO_ROOT="${VIDEO_ROOT:-data_root/camerabench/videos}"
if [[ -z "${BACKEND:-}" ]]; then
  if "$PY" -c "import vllm" >/dev/null 2>&1; then BACKEND=vllm; else BACKEND=hf; fi
fi
if [[ "$BACKEND" == vllm ]]; then BATCH_SIZE="${BATCH_SIZE:-128}"; else BATCH_SIZE="${BATCH_SIZE:-8}"; fi
OUT="${OUT:-outputs/eval/$(basename "$MODEL_PATH")-$PROTOCOL}"
CACHE_DIR="${CACHE_DIR:-.cache/frames}"

"$PY" -m camreasoner eval run --protocol "$PROTOCOL" --model "$MODEL_PATH" --items "$BENCH" \
  --video-root "$VIDEO_ROOT" --backend "$BACKEND" --out "$OUT" --cache-dir "$CACHE_DIR" \
  --batch-size "$BATCH_SIZE" "$@"
"$PY" -m camreasoner eval score --items "$BENCH" --predictions "$OUT/predictions.jsonl" \
  --out "$OUT/metrics.json"
"$PY" -m camreasoner eval report "$OUT" --out "$OUT/report"
echo "metrics: $OUT/metrics.json"
echo "report:  $OUT/report/report.html"
