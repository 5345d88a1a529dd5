#!/usr/bin/env bash
# On a one-GPU machine without network, once the "rl" carry set is installed (prepare.sh rl here, then
# install.sh .whl/rl.N there, one call a chunk): issue #9's runs, step by step, logs into $OUT.
#   bash maintainers/device/rl_gpu.sh imports sft grpo eval bench
# Steps: imports (vLLM, verl, Ray load), pyc (import time before / after byte-compiling), sft (demo --preset gpu_video --until sft: synthetic
# clips, the 15M model, SFT on videos), grpo (run_rl.sh with EasyR1/tiny_gpu_grpo.yaml, then the
# checkpoint merged to Hugging Face), eval (`eval run --backend vllm` on the merged model),
# bench (benchmarks/bench_vllm_eval.py: vLLM against transformers on one model and items),
# bench7b (the same on a random 7B-shaped model), demo_rl / demo (the gpu_video demo's RL stage,
# then the rest; each call <= 10 minutes), demo_gpu (the gpu preset whole, DEMO_ARGS added),
# demo_gpu_runs (gpu-preset demos side by side, RUNS: by default LLaMA-Factory seeds 42 and 1),
# frames7b (issue #17: the seed's 64 frames as images, vLLM vs transformers prompt tokens), pyes7b (issue #20: p_yes cost in both backends), sft3b
# (issue #20: the seed's 3B SFT recipe's throughput), grpo3b (issue #20: verl GRPO at the 3B
# shape in the seed protocol, benchmarks/bench_grpo_3b.py), lora7b (issue #20: the 7B LoRA
# recipe's throughput). A failing step is reported and the next one runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/rlgpu}
SITE=${SITE:-/tmp/site}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$SITE:$PWD/src" DISABLE_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    HF_HOME=/tmp/hf TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/mpl \
    VLLM_USE_FLASHINFER_SAMPLER=0 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 \
    NVSHMEM_DISABLE_NVLS=1 RAY_USAGE_STATS_ENABLED=0 VLLM_NO_USAGE_STATS=1
DEMO=$WORK/demo
RL=$WORK/rl
status=0
step() {  # step NAME CMD...: run, time, log to $OUT/NAME.log, keep going on failure
    local name=$1; shift
    local t0=$SECONDS
    echo "=== $name: $*"
    local rc=0
    "$@" > "$OUT/$name.log" 2>&1 || rc=$?
    echo "=== $name: rc=$rc in $((SECONDS - t0)) s"
    tail -n "${TAIL:-25}" "$OUT/$name.log"
    ((rc == 0)) || status=1
}
for s in "$@"; do
    case $s in
        imports) step imports python3 -c "
import importlib.metadata as m, torch
for d in ('vllm', 'verl', 'ray', 'transformers', 'torch', 'tensordict', 'TransferQueue'):
    print(d, m.version(d))
from vllm import LLM  # noqa: F401
import verl.trainer.main_ppo  # noqa: F401
import camreasoner.rl.verl_plugin  # noqa: F401
print('cuda', torch.cuda.is_available(), torch.cuda.get_device_name())" ;;
        pyc)  # how long vLLM + verl take to import, before and after byte-compiling $SITE
            # (install.sh compiles it already: the .pyc files are removed first to measure both)
            step pyc bash -c "echo PYTHONDONTWRITEBYTECODE=\${PYTHONDONTWRITEBYTECODE:-unset}
                find $SITE -name '*.pyc' -delete
                imp='import time; t = time.time(); import vllm, verl.trainer.main_ppo; print(\"import vllm + verl: %.1f s\" % (time.time() - t))'
                python3 -c \"\$imp\"; python3 -c \"\$imp\"
                t=\$SECONDS; python3 -m compileall -q -j 0 $SITE > /dev/null || true
                echo compileall: \$((SECONDS - t)) s; python3 -c \"\$imp\"" ;;
        sft) step sft python3 -m camreasoner demo --preset gpu_video --out "$DEMO" --until sft ;;
        grpo)
            nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 \
                > "$OUT/grpo_gpu_mem.csv" &
            smi=$!
            # shellcheck disable=SC2086  # GRPO_ARGS: extra Hydra overrides, space-separated
            step grpo env PROTOCOL=camreasoner RECIPE=tiny_gpu_grpo NGPUS=1 TP=1 VISION=tiny PYTHON=python3 \
                MODEL_PATH="$DEMO/sft/model" TRAIN_FILE="$DEMO/data/train/items_mc.jsonl" \
                VIDEO_ROOT="$DEMO/data/train/videos" OUTPUT_DIR="$RL" \
                bash local_scripts/run_rl.sh ${GRPO_ARGS:-}
            kill $smi || true
            echo "GPU memory used, peak MiB: $(sort -n "$OUT/grpo_gpu_mem.csv" | tail -1)" ;;
        eval) step eval python3 -m camreasoner eval run --backend vllm --protocol camreasoner --model "$RL/hf" \
                --items "$DEMO/data/test_items.jsonl" --video-root "$DEMO/data/test/videos" \
                --vision tiny --out "$WORK/eval_rl_vllm" --batch-size 1024 --max-new-tokens 384 \
                --no-progress ;;
        bench)
            model=$RL/hf
            [[ -d $model ]] || model=$DEMO/sft/model  # the GRPO step failed: the SFT model
            step bench python3 benchmarks/bench_vllm_eval.py --model "$model" \
                --items "$DEMO/data/test_items.jsonl" --video-root "$DEMO/data/test/videos" \
                --vision tiny --limit 256 --out-json "$OUT/bench_vllm_eval.json" ;;
        bench7b) step bench7b python3 benchmarks/bench_vllm_eval.py --qwen7b --limit 64 \
                --new-tokens 128 --hf-batch 32 --agreement-items 0 \
                --out-json "$OUT/bench_vllm_eval_7b.json" ;;
        demo_rl) step demo_rl python3 -m camreasoner demo --preset gpu_video --out "$DEMO" \
                --until rl ;;
        demo) step demo python3 -m camreasoner demo --preset gpu_video --out "$DEMO"
            [[ -d $DEMO/report ]] && tar czf "$OUT/demo_report.tgz" -C "$DEMO" report \
                summary.json rl/rewards.json || true ;;
        demo_gpu)  # issue #19: the gpu preset in one call; DEMO_ARGS: more demo flags (--set ...)
            # shellcheck disable=SC2086  # DEMO_ARGS: space-separated flags
            step demo_gpu python3 -m camreasoner demo --preset gpu --out "$WORK/demo_gpu" ${DEMO_ARGS:-}
            [[ -d $WORK/demo_gpu/report ]] && tar czf "$OUT/demo_gpu_report.tgz" -C "$WORK/demo_gpu" \
                report summary.json demo_config.json || true ;;
        demo_gpu_runs)  # issue #19: gpu-preset demos side by side, 8 torch threads each. RUNS:
            # "NAME FLAGS...;NAME FLAGS..." (default: LLaMA-Factory seeds 42 and 1, "s42 --set
            # sft.overrides=seed=42;s1 ..."), DEMO_ARGS: flags for all; one archive back, also
            # when DEMO_SECONDS (default 540) stops the runs before the call's 600 s do
            IFS=';' read -ra runs <<< "${RUNS:-s42 --set sft.overrides=seed=42;s1 --set sft.overrides=seed=1}"
            pids=() names=()
            for run in "${runs[@]}"; do
                read -ra words <<< "$run"
                names+=("${words[0]}")
                # shellcheck disable=SC2086  # DEMO_ARGS: space-separated flags
                OMP_NUM_THREADS=8 timeout "${DEMO_SECONDS:-540}" python3 -m camreasoner demo \
                    --preset gpu --out "$WORK/demo_gpu_${words[0]}" "${words[@]:1}" ${DEMO_ARGS:-} \
                    > "$OUT/demo_gpu_${words[0]}.log" 2>&1 &
                pids+=($!)
            done
            for pid in "${pids[@]}"; do wait "$pid" || status=1; done
            for name in "${names[@]}"; do
                echo "=== demo_gpu_$name"
                grep -a "stage\|shuffled" "$OUT/demo_gpu_$name.log" | tail -n 20 || true
            done
            (cd "$WORK" && tar czf "$OUT/demo_gpu_runs.tgz" demo_gpu_*/summary.json \
                demo_gpu_*/demo_config.json demo_gpu_*/report demo_gpu_*/eval/*/predictions.jsonl \
                demo_gpu_*/eval/*/metrics.json demo_gpu_*/rl/rewards.json \
                demo_gpu_*/data/test_items.jsonl) || true ;;
        frames7b)  # issue #17: the seed's 64 frames of 1280x720 as images, vLLM vs transformers
            step frames7b python3 benchmarks/check_frames_engines.py --work-dir "$WORK/q7b" \
                --out-json "$OUT/frames7b.json" ;;
        pyes7b)  # issue #20: p_yes off vs on, both backends, the same 7B-shaped model
            step pyes7b python3 benchmarks/bench_p_yes.py --work-dir "$WORK/q7b" \
                --items "${PYES_ITEMS:-64}" --new-tokens "${PYES_TOKENS:-256}" --p-yes "${PYES_ARMS:-off,letters}" \
                --out-json "$OUT/pyes7b.json" ;;
        sft3b)  # issue #20: the seed's 3B full SFT recipe with AdamW, and what LF offers
            step sft3b python3 benchmarks/bench_sft_throughput.py --size 3b \
                --arms "${SFT3B_ARMS:-lf3b_seed,lf3b_liger,lf3b_liger_bs8,lf3b_liger_bs16}" \
                --steps 6 --warmup 2 --work "$WORK/sft3b" --out-json "$OUT/sft3b.json" \
                ${SFT3B_PROFILE:+--profile} ;;
        grpo3b)  # issue #20: verl GRPO, the 3B recipe in the seed protocol, on one GPU
            step grpo3b python3 benchmarks/bench_grpo_3b.py --work-dir "$WORK/grpo3b" \
                --steps "${GRPO3B_STEPS:-3}" --prompts "${GRPO3B_PROMPTS:-4}" --clip-seconds "${GRPO3B_CLIP_S:-20}" \
                --out-json "$OUT/grpo3b.json" ;;
        lora7b)  # issue #20: the 7B LoRA recipe (AdamW) and its batch sizes
            step lora7b python3 benchmarks/bench_sft_throughput.py --size 7b_lora \
                --arms "${LORA7B_ARMS:-lora_bs1,lora_recipe,lora_bs8}" \
                --steps 6 --warmup 2 --work "$WORK/lora7b" --out-json "$OUT/lora7b.json" ;;
        *) echo "unknown step $s" >&2; status=2 ;;
    esac
done
exit $status
