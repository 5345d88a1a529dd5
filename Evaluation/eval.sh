#!/usr/bin/env bash
# Evaluate a checkpoint on CameraBench: run (resumable), score, report.
#   MODEL_PATH=outputs/rl/hf bash Evaluation/eval.sh
#   BACKEND=vllm MODEL_PATH=... bash Evaluation/eval.sh --tensor-parallel-size 2
#   BENCH=bench/camerabench_vqa.jsonl bash Evaluation/eval.sh
# Env (defaults): MODEL_PATH (data_root/models/Qwen2.5-VL-7B-Instruct),
#   BENCH (bench/camerabench_binary.jsonl, from `camreasoner data build-benchmark`),
#   VIDEO_ROOT (data_root/camerabench/videos), BACKEND (vllm if importable, else hf),
#   OUT (outputs/eval/<model folder name>), VENV (.venv), CACHE_DIR (.cache/frames).
# Extra arguments go to `camreasoner eval run` (e.g. --batch-size 16 --vision tiny).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
PY="${VENV}/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"
MODEL_PATH="${MODEL_PATH:-data_root/models/Qwen2.5-VL-7B-Instruct}"
BENCH="${BENCH:-bench/camerabench_binary.jsonl}"
VIDEO_ROOT="${VIDEO_ROOT:-data_root/camerabench/videos}"
if [[ -z "${BACKEND:-}" ]]; then
  if "$PY" -c "import vllm" >/dev/null 2>&1; then BACKEND=vllm; else BACKEND=hf; fi
fi
OUT="${OUT:-outputs/eval/$(basename "$MODEL_PATH")}"
CACHE_DIR="${CACHE_DIR:-.cache/frames}"

"$PY" -m camreasoner eval run --model "$MODEL_PATH" --items "$BENCH" --video-root "$VIDEO_ROOT" \
  --backend "$BACKEND" --out "$OUT" --cache-dir "$CACHE_DIR" "$@"
"$PY" -m camreasoner eval score --items "$BENCH" --predictions "$OUT/predictions.jsonl" \
  --out "$OUT/metrics.json"
"$PY" -m camreasoner eval report "$OUT" --out "$OUT/report"
echo "metrics: $OUT/metrics.json"
echo "report:  $OUT/report/report.html"
