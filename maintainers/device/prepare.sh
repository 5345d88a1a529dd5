#!/usr/bin/env bash
# Download the wheels of one carry set (maintainers/device/<set>.txt) for the GPU machine
# (CPython 3.12, x86-64 manylinux) into .whl/<set>/, split into chunks of at most CHUNK_MIB
# (default 58: a call carries the working tree too, ~5 MiB with the shipped models; CHUNK_BYTES overrides) so that every device call carries <= 64 MiB. Pure-Python sdists are built into
# wheels here. Prints the chunk folders to name in `carry`, one call each.
#   bash maintainers/device/prepare.sh sft
# A set file holds one `name==version` a line, `-r other.txt` to include another set, and
# `!glob` lines naming files inside wheels to leave out (fnmatch on the path in the wheel, e.g.
# `!vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so`): such wheels are rewritten without them (RECORD
# too) into <set>.pruned/, so that fewer calls carry them.
set -euo pipefail
SET=${1:?usage: prepare.sh SET  (a maintainers/device/SET.txt)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIST=${LIST:-$ROOT/maintainers/device/$SET.txt}
DEST=${DEST:-$ROOT/.whl/$SET}
CHUNK_MIB=${CHUNK_MIB:-58}
CHUNK_BYTES=${CHUNK_BYTES:-$((CHUNK_MIB << 20))}
PY=${PY:-python3}
[[ -f $LIST ]] || { echo "no carry set $LIST" >&2; exit 2; }
# The set's lines with includes expanded (relative to the including file), comments dropped.
expand() {
    local line
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        line=$(echo "$line" | xargs)
        [[ -z $line ]] && continue
        if [[ $line == "-r "* ]]; then expand "$(dirname "$1")/${line#-r }"; else echo "$line"; fi
    done < "$1"
}
LINES=$(expand "$LIST")
DL="$DEST.download"
mkdir -p "$DL"
plat=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_28_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64 \
         manylinux1_x86_64 linux_x86_64 any; do plat+=(--platform "$p"); done
grep -v '^!' <<<"$LINES" | while read -r req; do
    name=${req%%==*}
    norm=$(echo "$name" | tr 'A-Z.-' 'a-z__')  # a wheel's file name spells its project so
    if ls "$DL" | tr 'A-Z' 'a-z' | grep -q "^${norm}-${req##*==}-"; then continue; fi
    if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp "${plat[@]}" -d "$DL" "$req" 2>/dev/null; then
        echo "building a wheel for $req (sdist only)" >&2
        "$PY" -m pip wheel -q --no-deps -w "$DL" "$req"
    fi
done
# Rewrite the wheels that hold files named by `!glob` lines without them.
PRUNED="$DEST.pruned"
rm -rf "$PRUNED"
mkdir -p "$PRUNED"
GLOBS=$(grep '^!' <<<"$LINES" | cut -c2- || true)
"$PY" - "$DL" "$PRUNED" "$GLOBS" "$(grep -v '^!' <<<"$LINES")" <<'PY'
import fnmatch, os, re, sys, zipfile
dl, out = sys.argv[1], sys.argv[2]
globs = sys.argv[3].split()
def key(name, version):  # a wheel's file name spells name and version so
    return re.sub(r"[-_.]+", "_", name).lower(), version
wanted = {key(*r.split("==")) for r in sys.argv[4].split()}
have = set()
for name in sorted(os.listdir(dl)):
    if not name.endswith(".whl"):
        continue
    k = key(*name.split("-")[:2])
    if k not in wanted:  # left from an older version of the set
        continue
    have.add(k)
    src = os.path.join(dl, name)
    with zipfile.ZipFile(src) as z:
        drop = {i.filename for i in z.infolist() if any(fnmatch.fnmatch(i.filename, g) for g in globs)}
        if not drop:
            os.link(src, os.path.join(out, name))
            continue
        with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_DEFLATED) as w:
            for info in z.infolist():
                if info.filename in drop:
                    continue
                data = z.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    rows = data.decode().splitlines()
                    data = ("\n".join(r for r in rows if r.split(",")[0] not in drop) + "\n").encode()
                w.writestr(info, data, compress_type=info.compress_type)
    saved = (os.path.getsize(src) - os.path.getsize(os.path.join(out, name))) / 2**20
    print(f"{name}: left out {len(drop)} file(s), {saved:.1f} MiB less", file=sys.stderr)
if wanted - have:
    sys.exit(f"no wheel downloaded for {sorted(wanted - have)}")
PY
# Pack into chunk folders (greedy by size); a wheel larger than a chunk is split into parts that
# install.sh joins again (sha256 in the manifest).
rm -rf "$DEST".[0-9]*
"$PY" - "$PRUNED" "$DEST" "$CHUNK_BYTES" <<'PY'
import hashlib, os, sys
dl, dest, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted((os.path.getsize(os.path.join(dl, f)), f) for f in os.listdir(dl) if f.endswith(".whl"))
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
# First fit, largest first: fewer chunks (fewer calls) than filling them in name order.
bins = []  # [used bytes, items]
for size, path, part in sorted(pieces, key=lambda p: -p[0]):
    target = next((b for b in bins if b[0] + size <= chunk), None)
    if target is None:
        target = [0, []]
        bins.append(target)
    target[0] += size
    target[1].append((path, part))
chunks = [items for _, items in bins]
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
