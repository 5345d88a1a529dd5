"""``python -m camreasoner.lf_cli train CONFIG``: ``llamafactory-cli`` with Qwen2.5-VL's video
positions fixed (camreasoner.qwen_positions) and its vision windows attended in batches
(camreasoner.qwen_vision_attention), in its own process and in every torchrun worker it starts:
LLaMA-Factory's launcher runs its own file as the workers' script, and this module puts itself
there, so each worker patches transformers before it trains."""

from __future__ import annotations

import logging
import os

from camreasoner.qwen_positions import fix_video_positions
from camreasoner.qwen_vision_attention import batch_vision_windows


def main() -> None:
    """What ``llamafactory-cli`` does (train, export, ...), after the patches."""
    from llamafactory import launcher

    fix_video_positions()
    batch_vision_windows()
    launcher.__file__ = __file__  # launch() starts torchrun on its module's __file__
    launcher.launch()


def worker() -> None:
    """One torchrun worker, as llamafactory/launcher.py runs as a script: train."""
    from llamafactory.train.tuner import run_exp

    fix_video_positions()
    batch_vision_windows()
    run_exp()


if __name__ == "__main__":
    # this process's own log line (the fix, once) beside LLaMA-Factory's; LF configures its own
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # torchrun sets LOCAL_RANK in the workers it starts; run_sft's own call has none
    worker() if "LOCAL_RANK" in os.environ else main()
