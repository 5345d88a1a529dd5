#!/usr/bin/env bash
# Download the wheels of one carry set (scripts/device/<set>.txt) for the GPU machine
# (CPython 3.12, x86-64 manylinux) into .whl/<set>/, split into chunks of at most CHUNK_MIB
# (default 60; CHUNK_BYTES overrides) so that every device call carries <= 64 MiB. Pure-Python sdists are built into
# wheels here. Prints the chunk folders to name in `carry`, one call each.
#   bash scripts/device/prepare.sh sft
set -euo pipefail
SET=${1:?usage: prepare.sh SET  (a scripts/device/SET.txt)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIST=${LIST:-$ROOT/scripts/device/$SET.txt}
DEST=${DEST:-$ROOT/.whl/$SET}
CHUNK_MIB=${CHUNK_MIB:-60}
CHUNK_BYTES=${CHUNK_BYTES:-$((CHUNK_MIB << 20))}
PY=${PY:-python3}
[[ -f $LIST ]] || { echo "no carry set $LIST" >&2; exit 2; }
DL="$DEST.download"
mkdir -p "$DL"
plat=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_28_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64 \
         manylinux1_x86_64 linux_x86_64 any; do plat+=(--platform "$p"); done
grep -vE '^\s*(#|$)' "$LIST" | while read -r req; do
    name=${req%%==*}
    norm=$(echo "$name" | tr 'A-Z.-' 'a-z__')  # a wheel's file name spells its project so
    if ls "$DL" | tr 'A-Z' 'a-z' | grep -q "^${norm}-${req##*==}-"; then continue; fi
    if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp "${plat[@]}" -d "$DL" "$req" 2>/dev/null; then
        echo "building a wheel for $req (sdist only)" >&2
        "$PY" -m pip wheel -q --no-deps -w "$DL" "$req"
    fi
done
# Pack into chunk folders (greedy by size); a wheel larger than a chunk is split into parts that
# install.sh joins again (sha256 in the manifest).
rm -rf "$DEST".[0-9]*
"$PY" - "$DL" "$DEST" "$CHUNK_BYTES" <<'PY'
import hashlib, os, sys
dl, dest, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted((os.path.getsize(os.path.join(dl, f)), f) for f in os.listdir(dl) if f.endswith(".whl"))
chunks, cur, used = [], [], 0
pieces = []
for size, f in files:
    path = os.path.join(dl, f)
    if size <= chunk:
        pieces.append((size, path, None))
        continue
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with open(path, "rb") as fh:
        k = 0
        while block := fh.read(chunk):
            pieces.append((len(block), path, (k, block, digest)))
            k += 1
for size, path, part in pieces:
    if used + size > chunk:
        chunks.append(cur); cur, used = [], 0
    cur.append((path, part)); used += size
if cur:
    chunks.append(cur)
for i, items in enumerate(chunks, 1):
    d = f"{dest}.{i}"
    os.makedirs(d)
    for path, part in items:
        name = os.path.basename(path)
        if part is None:
            os.link(path, os.path.join(d, name))
        else:
            k, block, digest = part
            with open(os.path.join(d, f"{name}.part{k:02d}"), "wb") as out:
                out.write(block)
            with open(os.path.join(d, f"{name}.sha256"), "w") as out:
                out.write(digest + "\n")
    mib = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 2**20
    print(f"{os.path.relpath(d)}\t{mib:.1f} MiB")
PY
