#!/usr/bin/env bash
# Build the project's virtual environment from the pinned lock file.
#   bash scripts/setup_env.sh          # CPU dev/CI environment in .venv (torch 2.14.1, all stages)
#   bash scripts/setup_env.sh --gpu    # GPU cluster environment (torch 2.11.0 + vLLM 0.24.0)
# Env: VENV (default .venv, or .venv-gpu with --gpu), PYTHON (default python3.11 or python3).
# Needs no network beyond the package registries. Re-running is cheap: pip skips what is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODE=cpu
if [[ "${1:-}" == "--gpu" ]]; then MODE=gpu; shift; fi
if [[ "$MODE" == gpu ]]; then
  LOCK=requirements/gpu.lock.txt; VENV="${VENV:-.venv-gpu}"
else
  LOCK=requirements/dev-cpu.lock.txt; VENV="${VENV:-.venv}"
fi
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.camreasoner-lock.sha256"
want="$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "[setup] $VENV is up to date with $LOCK"
  exit 0
fi
echo "[setup] installing $LOCK into $VENV (a few minutes on a fresh machine)"
# The machines' pip config lists a second local index that lacks most names; pip warns once per
# package about it. The filter drops only those lines (pipefail keeps pip's exit status).
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet "$VENV/bin/python" -m pip install --quiet --upgrade pip
quiet "$VENV/bin/python" -m pip install --quiet -r "$LOCK"
quiet "$VENV/bin/python" -m pip install --quiet --no-deps -e .
if [[ "$MODE" == gpu ]]; then
  # DeepSpeed (the SFT recipes' ZeRO configs) and flash-attn compile against the installed torch,
  # so they come after it; flash-attn is optional (SDPA works without it).
  "$VENV/bin/python" -m pip install --quiet --no-build-isolation "deepspeed>=0.16,<0.19" || \
    echo "[setup] deepspeed did not install; multi-GPU SFT recipes need it"
  "$VENV/bin/python" -m pip install --quiet --no-build-isolation flash-attn || \
    echo "[setup] flash-attn did not install; training falls back to SDPA attention"
fi
"$VENV/bin/python" -m pip check || echo "[setup] pip check reported the above (known: decord's platform tag)"
echo "$want" > "$stamp"
echo "[setup] done: $VENV"
