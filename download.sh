#!/usr/bin/env bash
# Fetch the base model, the seed's CamReasoning SFT/RL data and evaluation files, and the training
# and CameraBench test videos into one data root (resumable: complete steps are skipped). Thin
# wrapper over `camreasoner download`. Steps (keys for --only and --revision):
#   base-model    Qwen/Qwen2.5-VL-7B-Instruct (or BASE_MODEL)      -> models/<name>/
#   checkpoint    LaurentWu/CamReasoner-7B (--with-checkpoint)      -> models/CamReasoner-7B/
#   sft-data      seed LLaMA-Factory/data/camerabench_sft.json      -> data/
#   rl-data       seed EasyR1/camerabench_rl.json                   -> data/
#   eval-data     seed Inference/camerabench_{binary,vqa}.json      -> data/
#   train-videos  chancharikm/cambench_train_videos videos.zip      -> train_videos/
#   test-videos   syCen/Videos4CameraBench, whole snapshot          -> camerabench/videos/
# The seed files come from github.com/wuhang03/CamReasoner branch master at commit 8b71188...;
# each hub repo is fetched at a commit: a known one, else its main branch resolved at the first
# download and recorded in DATA_ROOT/download.lock.json (later runs and other machines given
# that file use it).
#   bash download.sh                              # everything but the released checkpoint
#   bash download.sh --with-checkpoint            # also LaurentWu/CamReasoner-7B
#   bash download.sh --plan                       # sources, revisions, destinations, state
#   bash download.sh --plan --json                # the same as JSON
#   bash download.sh --only base-model,test-videos
#   bash download.sh --revision test-videos=<40-hex commit>   # pin a step (repeatable)
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
