"""``python -m camreasoner.lf_cli train CONFIG``: ``llamafactory-cli`` with Qwen2.5-VL's video
positions fixed (camreasoner.qwen_positions), in its own process and in every torchrun worker it
starts: LLaMA-Factory's launcher runs its own file as the workers' script, and this module puts
itself there, so each worker fixes the positions before it trains."""

from __future__ import annotations

import logging
import os

from camreasoner.qwen_positions import fix_video_positions


def main() -> None:
    """What ``llamafactory-cli`` does (train, export, ...), after the fix."""
    from llamafactory import launcher

    fix_video_positions()
    launcher.__file__ = __file__  # launch() starts torchrun on its module's __file__
    launcher.launch()


def worker() -> None:
    """One torchrun worker, as llamafactory/launcher.py runs as a script: train."""
    from llamafactory.train.tuner import run_exp

    fix_video_positions()
    run_exp()


if __name__ == "__main__":
    # this process's own log line (the fix, once) beside LLaMA-Factory's; LF configures its own
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # torchrun sets LOCAL_RANK in the workers it starts; run_sft's own call has none
    worker() if "LOCAL_RANK" in os.environ else main()
