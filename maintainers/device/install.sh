#!/usr/bin/env bash
# On the GPU machine: install the carried chunk folders (from prepare.sh) into $SITE (default
# /tmp/site, which survives between calls while the machine is warm). Parts of a split wheel
# wait in $SITE.parts until all have arrived, then are joined, checked (sha256) and installed.
# Idempotent: a wheel already installed is skipped. Then: export PYTHONPATH=$SITE:$PWD/src
#   bash maintainers/device/install.sh .whl/sft.1 [.whl/sft.2 ...]
set -euo pipefail
SITE=${SITE:-/tmp/site}
PARTS=${PARTS:-$SITE.parts}
mkdir -p "$SITE" "$PARTS"
todo=()
for d in "$@"; do
    for f in "$d"/*; do
        case $f in
            *.part[0-9][0-9]|*.sha256) cp -n "$f" "$PARTS/" ;;
            *.whl) [[ -e $SITE/.installed.$(basename "$f") ]] || todo+=("$f") ;;
        esac
    done
done
for sum in "$PARTS"/*.sha256; do
    [[ -e $sum ]] || break
    whl=${sum%.sha256}
    [[ -e $SITE/.installed.$(basename "$whl") ]] && continue
    parts=("$whl".part*)
    cat "${parts[@]}" > "$whl"
    if [[ $(sha256sum "$whl" | cut -d' ' -f1) == "$(cat "$sum")" ]]; then
        todo+=("$whl")
    else
        echo "$(basename "$whl"): ${#parts[@]} part(s) so far, waiting for the rest" >&2
        rm -f "$whl"
    fi
done
if ((${#todo[@]})); then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "${todo[@]}" 2>&1 | grep -v "^WARNING: Target directory" || true
    for f in "${todo[@]}"; do touch "$SITE/.installed.$(basename "$f")"; done
    # The image sets PYTHONDONTWRITEBYTECODE=1, so without this every process (verl spawns many)
    # compiles vLLM's and verl's sources again: import 26-28 s -> 22 s, for 4 s once (H100 machine).
    python3 -m compileall -q -j 0 "$SITE" > /dev/null || true
fi
echo "installed in $SITE: $(ls "$SITE"/.installed.* 2>/dev/null | wc -l) wheel(s)"
