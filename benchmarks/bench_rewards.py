"""Reward throughput: responses per second for typical O-T-A responses, and the time for 1 MB
adversarial responses (nested/repeated/unclosed tags, whitespace runs), in one run.

    .venv/bin/python benchmarks/bench_rewards.py
"""

from __future__ import annotations

import statistics
import time

from camreasoner import rewards

YN = ["A. No", "B. Yes"]
INFO = {"options": YN, "question": "Does the camera pan to the left?", "task": "Pan_Left"}
TYPICAL = ("<observation>Across the frames the whole view slides to the right. Near and far parts "
           "move together by the same amount, with no parallax between them.</observation><think>"
           "A shift with no parallax means the camera rotated in place rather than moving through "
           "the scene. The view slides right because the camera turns left: a pan left. Overall, "
           "the camera pans left, so that is what happens and the answer is Yes.</think>"
           "<answer>B</answer>")
ADVERSARIAL = {
    "'<' + 1M spaces + '>'": "<" + " " * 1_000_000 + ">",
    "'< ' x 500k": "< " * 500_000,
    "'<observation><think>' x 40k": ("<observation><think>" * 40_000)[:1_000_000],
    "'<THINK>' x 140k": "<THINK>" * 140_000,
    "'<answer>' + 'B ' x 500k": "<answer>" + "B " * 500_000,
    "unclosed observation, 1 MB": "<observation>" + "x" * 1_000_000,
    "valid O-T-A, 0.9 MB blocks": "<observation>" + "slides left " * 40_000 + "</observation><think>"
    + "pans left. " * 40_000 + "</think><answer>B</answer>",
}


def main() -> None:
    n = 20_000
    variants = [TYPICAL.replace("right", f"right{k % 97}") for k in range(n)]  # defeat caching
    t0 = time.perf_counter()
    for v in variants:
        rewards.compute_score("synthetic", v, "B", INFO)
    dt = time.perf_counter() - t0
    print(f"typical {len(TYPICAL)}-character responses: {n / dt:,.0f} responses/s "
          f"({dt / n * 1e6:.0f} us each)")
    print("| adversarial response (~1 MB) | ms (median of 5) |")
    print("|---|---|")
    for name, text in ADVERSARIAL.items():
        times = []
        for k in range(5):
            t0 = time.perf_counter()
            rewards.compute_score("s", text + str(k), "B", INFO)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| {name} | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
