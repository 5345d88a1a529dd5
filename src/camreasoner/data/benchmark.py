"""``camreasoner data build-benchmark``: the CameraBench evaluation files in our item schema.

Writes ``camerabench_binary.jsonl`` (7,679 items, 15 primitives), ``camerabench_vqa.jsonl``
(14,172 items: 3,543 pos/neg pairs x 4) and ``camerabench_captions.jsonl`` (when
``caption_data.json`` is present), plus ``manifest.json`` with counts and file hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from camreasoner.data import readers
from camreasoner.data.schema import DataError, Item, write_items

log = logging.getLogger(__name__)

BINARY_FILE = "camerabench_binary.jsonl"
VQA_FILE = "camerabench_vqa.jsonl"
CAPTION_FILE = "camerabench_captions.jsonl"


def sha256_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _counts(items: list[Item], key: str) -> dict[str, dict[str, int]]:
    n = Counter(getattr(i, key) for i in items)
    yes = Counter(getattr(i, key) for i in items if i.answer == "B")
    return {k: {"items": n[k], "yes": yes[k]} for k in n}


def build_benchmark(camerabench_dir: str | os.PathLike[str],
                    out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Build the benchmark files; returns the manifest (also written to ``manifest.json``)."""
    src = Path(camerabench_dir)
    out = Path(out_dir)
    binary_dir, vqa_dir = src / "binary_classification", src / "vqa_and_retrieval"
    for d in (binary_dir, vqa_dir):
        if not d.is_dir():
            raise DataError(f"not a CameraBench folder: {d} is missing", where=str(src))
    binary = readers.read_camerabench_binary(binary_dir)
    vqa = readers.read_camerabench_vqa(vqa_dir)
    manifest: dict[str, Any] = {"source": str(src), "files": {}}
    write_items(out / BINARY_FILE, binary)
    manifest["files"][BINARY_FILE] = {"items": len(binary), "sha256": sha256_file(out / BINARY_FILE),
                                      "per_task": _counts(binary, "task")}
    write_items(out / VQA_FILE, vqa)
    manifest["files"][VQA_FILE] = {"items": len(vqa), "pairs": len({i.pair_id for i in vqa}),
                                   "sha256": sha256_file(out / VQA_FILE),
                                   "per_skill": _counts(vqa, "skill")}
    captions_path = src / "caption_data.json"
    if captions_path.is_file():
        captions = readers.read_captions(captions_path)
        write_items(out / CAPTION_FILE, captions)
        manifest["files"][CAPTION_FILE] = {"items": len(captions),
                                           "sha256": sha256_file(out / CAPTION_FILE)}
    else:
        log.warning("no caption_data.json in %s: captions not built", src)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("binary: %d items over %d primitives; vqa: %d items from %d pairs over %d skills",
             len(binary), len(manifest["files"][BINARY_FILE]["per_task"]), len(vqa),
             manifest["files"][VQA_FILE]["pairs"], len(manifest["files"][VQA_FILE]["per_skill"]))
    return manifest
