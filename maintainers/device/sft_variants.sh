#!/usr/bin/env bash
# On a one-GPU machine without network (the "sft" or "rl" carry set installed): SFT variants side by side
# on one shared synthetic corpus and model, each scored on the held-out clips with the
# transformers backend: does SFT learn the motion, and with which settings (issue #7).
#   BASE_SETS="data.train_clips=12000 data.test_clips=100" \
#       bash maintainers/device/sft_variants.sh "e1:sft.epochs=1" "e3:sft.epochs=3;sft.overrides=learning_rate=5e-4"
# A variant is NAME:SET[;SET...], each SET a `camreasoner demo --set` assignment on top of the
# preset ($PRESET, default gpu_video) and BASE_SETS. The corpus and model are built once under
# $WORK/base (their settings must come from BASE_SETS); variants train at the same time (a 15M
# model leaves the GPU mostly idle). Logs and the table (variants.md, variants.json) go to $OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/sftvar}
SITE=${SITE:-/tmp/site}
PRESET=${PRESET:-gpu_video}
EVAL_BATCH=${EVAL_BATCH:-512}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$SITE:$PWD/src" DISABLE_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    HF_HOME=/tmp/hf TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/mpl
base=$WORK/base
base_sets=()
for s in ${BASE_SETS:-}; do base_sets+=(--set "$s"); done
t0=$SECONDS
python3 -m camreasoner demo --preset "$PRESET" --out "$base" --until model "${base_sets[@]}" \
    > "$OUT/base.log" 2>&1 || { tail -n 30 "$OUT/base.log"; exit 1; }
echo "corpus + model: $((SECONDS - t0)) s"

run_variant() {  # NAME SPEC: SFT, then eval + score on the held-out set
    local name=$1 spec=$2 d=$WORK/$1
    mkdir -p "$d"
    ln -sfn "$base/data" "$d/data"
    ln -sfn "$base/model" "$d/model"
    local sets=("${base_sets[@]}") extra=()
    IFS=';' read -ra extra <<< "$spec"
    for s in "${extra[@]}"; do [[ -n $s ]] && sets+=(--set "$s"); done
    local t=$SECONDS
    # its own datasets cache: parallel variants would otherwise write the same Arrow files
    HF_HOME=$WORK/hf_$name python3 -m camreasoner demo --preset "$PRESET" --out "$d" --until sft "${sets[@]}" \
        > "$OUT/sft_$name.log" 2>&1
    echo "$((SECONDS - t))" > "$d/sft_seconds"
    OMP_NUM_THREADS=$EVAL_THREADS python3 -m camreasoner eval run --backend hf --model "$d/sft/model" \
        --items "$base/data/test_items.jsonl" --video-root "$base/data/test/videos" \
        --protocol camreasoner --vision tiny --out "$d/eval" --batch-size "$EVAL_BATCH" \
        --max-new-tokens 384 \
        --no-progress > "$OUT/eval_$name.log" 2>&1
    python3 -m camreasoner eval score --items "$base/data/test_items.jsonl" \
        --predictions "$d/eval/predictions.jsonl" --out "$d/metrics.json" >> "$OUT/eval_$name.log" 2>&1
}

# Variants run side by side, so their evaluations each get a share of the cores for torch's
# threads (every process takes all 16 otherwise: three variants' one-process LLaMA-Factory
# tokenizers made no progress in 7 minutes that way). SFT is left to camreasoner.sft, which gives
# LLaMA-Factory's forked tokenizer workers one thread each; an exported OMP_NUM_THREADS would
# override that and give each of those workers this share instead.
EVAL_THREADS=${EVAL_THREADS:-$(( $(nproc) / $# > 0 ? $(nproc) / $# : 1 ))}
pids=() names=()
for v in "$@"; do
    name=${v%%:*}
    spec=${v#*:}
    [[ $v == *:* ]] || spec=""
    run_variant "$name" "$spec" &
    pids+=($!) names+=("$name")
done
status=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "variant ${names[$i]} failed; its logs: sft_${names[$i]}.log eval_${names[$i]}.log"
        tail -n 20 "$OUT/sft_${names[$i]}.log" "$OUT/eval_${names[$i]}.log" 2>/dev/null || true
        status=1
    fi
done
python3 - "$WORK" "$OUT" "${names[@]}" <<'EOF'
import json, sys
from pathlib import Path

from camreasoner.eval.report import md_table

work, out, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
rows, table = {}, []
for n in names:
    d = work / n
    if not (d / "metrics.json").exists():
        continue
    m = json.loads((d / "metrics.json").read_text())
    cfg = json.loads((d / "demo_config.json").read_text())
    log = [json.loads(x) for x in (d / "sft" / "model" / "trainer_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    mc = m.get("mc", {}).get("per_task", {})
    acc = {t: v["acc"] for t, v in mc.items()}
    fails = sum(v.get("parse_failures", 0) for v in m.get("binary", {}).get("per_task", {}).values())
    rows[n] = {"sets": cfg, "steps": log[-1].get("current_steps") if log else None,
               "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
               "sft_seconds": int((d / "sft_seconds").read_text()),
               "binary_avg_ap": m["binary"]["avg_ap"], "binary_avg_ap_prob": m["binary"]["avg_ap_prob"],
               "mc_acc": acc, "binary_parse_failures": fails}
    r = rows[n]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    table.append([n, str(r["steps"]), fmt(r["last_loss"], ".3f"), str(r["sft_seconds"]),
                  fmt(r["binary_avg_ap"], ".1f"), fmt(r["binary_avg_ap_prob"], ".1f"),
                  " ".join(f"{v:.1f}" for v in acc.values()), str(fails)])
(out / "variants.json").write_text(json.dumps(rows, indent=2) + "\n")
md = md_table(["variant", "steps", "last loss", "SFT s", "binary AP", "AP (p_yes)",
               "which-movement acc.", "binary parse failures"], table)
(out / "variants.md").write_text(md)
print(md)
EOF
exit $status
