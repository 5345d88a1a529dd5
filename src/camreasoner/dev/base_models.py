"""Small pre-trained bases shipped with the package, for the demo's ``base_model`` key.

A base is a Qwen2.5-VL folder (config, weights, tokenizer, processor) that already reads the
synthetic clips' motion, so the CPU demo's short SFT has something to build on, as the real
pipeline starts from a pre-trained VLM. ``motion_captioner``: the 2 x 128 LM over the 4 x 128
vision tower (1.9M parameters), pre-trained on one GPU to describe a clip's camera motion after
any of the chains' prompts (``<observation>view slides left, no parallax</observation><think>the
camera pans right</think>``, never an answer) on 6,000 synthetic clips rendered with seed 7,
which the demo never renders (it uses seeds 0 and 10000). Its recipe, the numbers it reached and
how to rebuild it: assets/motion_captioner/README.md.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from camreasoner.errors import UserError

SHIPPED_BASES = ("motion_captioner",)


def base_model_path(name_or_path: str) -> Path:
    """The folder of a shipped base (by name) or of a model folder of one's own."""
    if name_or_path in SHIPPED_BASES:
        path = Path(str(resources.files("camreasoner.dev") / "assets" / name_or_path))
    else:
        path = Path(name_or_path)
    if not (path / "config.json").is_file():
        raise UserError(f"base model {name_or_path!r}: no config.json in {path} (shipped bases: "
                        f"{', '.join(SHIPPED_BASES)}, or a model folder)")
    return path


def parameter_count(model_dir: Path) -> int:
    """Parameters in a folder's safetensors files, read from their headers (no torch)."""
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise UserError(f"base model {model_dir}: no *.safetensors weights")
    total = 0
    for f in files:
        with f.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")  # the header's length comes first
            header = json.loads(fh.read(size))
        for key, t in header.items():
            if key != "__metadata__":
                n = 1
                for d in t["shape"]:
                    n *= d
                total += n
    return total
