#!/usr/bin/env bash
# On a one-GPU machine without network (the "sft" carry set installed): pre-train small motion
# bases with the SFT-pathway probe (video -> "<observation>pan right</observation>", or with
# VARIANT=describe_prompt video + a chain's own prompt -> the short chain's observation and the
# movement, closed by </think>; the 2 x 128 LM over the 4 x 128 vision tower, M-RoPE positions
# as the pipeline's), several side by side on one synthetic corpus, each saved for the demo's
# base_model (issue #19).
# The models come back in bf16 as one archive: a device call returns only a few files.
#   STEPS=3000 bash maintainers/device/pretrain_base.sh "s0:--seed 0" "s3:--seed 3"
# (motion_captioner's two phases: src/camreasoner/dev/assets/motion_captioner/README.md)
# A variant is NAME:PROBE-ARGS (extra maintainers/probes/probe_sft_pathway.py flags). The corpus
# is rendered with seed $SYNTH_SEED (default 7). Clips are seeded by (seed, index) and the demo
# renders with seeds 0 and 10000, so none of its clips is seen here. Logs, tables (NAME.json)
# and the models (bases.tgz, a folder NAME/ each) go to $OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/pretrain}
SITE=${SITE:-/tmp/site}
CLIPS=${CLIPS:-6000}
HELD=${HELD:-400}
STEPS=${STEPS:-4000}
EVAL_EVERY=${EVAL_EVERY:-500}
SYNTH_SEED=${SYNTH_SEED:-7}
VARIANT=${VARIANT:-label}  # the probe's target: label (phase 1), describe_prompt (phase 2), ...
MAX_SECONDS=${MAX_SECONDS:-0}  # each variant stops training after this long (0: STEPS decides)
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$SITE:$PWD/src:$PWD/maintainers/probes" DISABLE_VERSION_CHECK=1 HF_HUB_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 HF_HOME=/tmp/hf TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/mpl
t0=$SECONDS
if [[ ! -f $WORK/train/manifest.jsonl ]]; then
    python3 -m camreasoner synth --out "$WORK/train" --clips "$CLIPS" --size 112 --frames 8 --fps 2 \
        --seed "$SYNTH_SEED" --chain-style short --workers "$(nproc)" > "$OUT/synth.log" 2>&1 \
        || { tail -n 20 "$OUT/synth.log"; exit 1; }
fi
echo "corpus: $((SECONDS - t0)) s"
# one model file for every variant (built once: parallel builds would race on it)
python3 -c "import sys; from pathlib import Path; from probe_sft_pathway import probe_model; \
probe_model(Path(sys.argv[1]), 'small')" "$WORK"
threads=$(( $(nproc) / $# > 0 ? $(nproc) / $# : 1 ))
pids=() names=()
for v in "$@"; do
    name=${v%%:*}
    read -ra extra <<< "${v#*:}"
    python3 maintainers/probes/probe_sft_pathway.py --train "$WORK/train" --work "$WORK" \
        --variant "$VARIANT" --device cuda --threads "$threads" --clips "$CLIPS" --held-clips "$HELD" \
        --steps "$STEPS" --eval-every "$EVAL_EVERY" --max-seconds "$MAX_SECONDS" --out-json "$OUT/$name.json" \
        --save "$WORK/models/$name" "${extra[@]}" > "$OUT/$name.log" 2>&1 &
    pids+=($!) names+=("$name")
done
status=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "variant ${names[$i]} failed"; tail -n 15 "$OUT/${names[$i]}.log"; status=1; }
done
for n in "${names[@]}"; do echo "== $n"; grep -A30 "^SFT pathway probe" "$OUT/$n.log" || true; done
# the models in bf16 (as shipped; they load as fp32) as one archive: a device call brings back
# at most 8 files of 16 MiB each, and three fp32 models passed that
for n in "${names[@]}"; do
    python3 -c "import sys, torch, safetensors.torch as st; p = sys.argv[1]; \
st.save_file({k: v.to(torch.bfloat16).contiguous() for k, v in st.load_file(p).items()}, p, \
metadata={'format': 'pt'})" "$WORK/models/$n/model.safetensors"
done
tar -C "$WORK/models" -czf "$OUT/bases.tgz" "${names[@]}"
ls -la "$OUT/bases.tgz"
echo "total: $((SECONDS - t0)) s"
exit $status
