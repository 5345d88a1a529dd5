"""Reward throughput, ours (``camreasoner``) beside the seed's (``seed``, through the same verl
``compute_score``): responses per second for typical O-T-A responses (right and wrong letter),
and the time for 1 MB adversarial responses (nested/repeated/unclosed tags, whitespace runs), in
one run.

    .venv/bin/python benchmarks/bench_rewards.py
"""

from __future__ import annotations

import logging
import statistics
import time

from camreasoner import rewards

YN = ["A. No", "B. Yes"]
INFO = {"options": YN, "question": "Does the camera pan to the left?", "task": "Pan_Left"}
PROTOCOLS = ("camreasoner", "seed")
TYPICAL = ("<observation>Across the frames the whole view slides to the right. Near and far parts "
           "move together by the same amount, with no parallax between them.</observation><think>"
           "A shift with no parallax means the camera rotated in place rather than moving through "
           "the scene. The view slides right because the camera turns left: a pan left. Overall, "
           "the camera pans left, so that is what happens and the answer is Yes.</think>"
           "<answer>B</answer>")
ADVERSARIAL = {
    "'<' + 1M spaces + '>'": "<" + " " * 1_000_000 + ">",
    "'x' + 1M spaces + 'x'": "x" + " " * 1_000_000 + "x",
    "'< ' x 500k": "< " * 500_000,
    "'<observation><think>' x 40k": ("<observation><think>" * 40_000)[:1_000_000],
    "'<THINK>' x 140k": "<THINK>" * 140_000,
    "'<answer>' + 1M spaces": "<answer>" + " " * 1_000_000,
    "'<answer>' + 'B ' x 500k": "<answer>" + "B " * 500_000,
    "unclosed observation, 1 MB": "<observation>" + "x" * 1_000_000,
    "valid O-T-A, 0.9 MB blocks": "<observation>" + "slides left " * 40_000 + "</observation><think>"
    + "pans left. " * 40_000 + "</think><answer>B</answer>",
}


def _throughput(protocol: str, truth: str, n: int) -> float:
    variants = [TYPICAL.replace("right", f"right{k % 97}") for k in range(n)]  # defeat caching
    t0 = time.perf_counter()
    for v in variants:
        rewards.compute_score("synthetic", v, truth, INFO, protocol=protocol)
    return n / (time.perf_counter() - t0)


def main() -> None:
    logging.disable(logging.WARNING)
    rewards.compute_score("s", TYPICAL, "A", INFO, protocol="seed")  # load mathruler and sympy
    n = 20_000
    print(f"typical {len(TYPICAL)}-character responses, responses/s (us each):")
    print("| truth | camreasoner | seed | seed / camreasoner time |")
    print("|---|---|---|---|")
    for label, truth, count in (("B (right answer)", "B", n), ("A (wrong answer)", "A", n // 10)):
        rates = {p: _throughput(p, truth, count) for p in PROTOCOLS}
        cells = " | ".join(f"{rates[p]:,.0f} ({1e6 / rates[p]:.0f} us)" for p in PROTOCOLS)
        print(f"| {label} | {cells} | {rates['camreasoner'] / rates['seed']:.2f}x |")
    print()
    print("| adversarial response (~1 MB) | camreasoner ms | seed ms | seed / camreasoner |")
    print("|---|---|---|---|")
    for name, text in ADVERSARIAL.items():
        med = {}
        for p in PROTOCOLS:
            times = []
            for k in range(5):
                t0 = time.perf_counter()
                rewards.compute_score("s", text + str(k), "B", INFO, protocol=p)
                times.append((time.perf_counter() - t0) * 1000)
            med[p] = statistics.median(times)
        print(f"| {name} | {med['camreasoner']:.1f} | {med['seed']:.1f} | "
              f"{med['seed'] / med['camreasoner']:.2f}x |")
    print("(median of 5 runs each)")


if __name__ == "__main__":
    main()
