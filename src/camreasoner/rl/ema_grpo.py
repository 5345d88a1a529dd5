"""EMA-GRPO: GRPO's group-mean centring, scaled by an exponential moving average of the reward's
standard deviation per task instead of each group's own std (the seed's estimator).

For a batch of outcome scores ``r`` (one per response; responses to one prompt share a group id):

1. ``centred_i = r_i - mean(r of i's group)``.
2. Update the task's EMA with the batch (first batch initialises it):
   ``m1 <- d * m1 + (1 - d) * mean(r)``, ``m2 <- d * m2 + (1 - d) * mean(r^2)``; then
   ``std = max(sqrt(max(m2 - m1^2, 0)), min_std)``. The batch is folded in *before* scaling, as
   in the seed, so a new task is not scaled by stale statistics.
3. ``adv_i = centred_i / (std + eps)``; a group with any ``|adv| > guard`` falls back to its own
   population std: ``centred_i / (std(r of group) + eps)``.

Why: a group whose responses agree on all but one has a tiny group std, so plain GRPO blows its
lone outlier up to a huge advantage; the task-level EMA keeps advantages on one scale across
groups and steps, and the guard keeps that scale from exploding early on.

The task key: verl hands an advantage estimator the group ids (``uid``), not the item's task, so
all responses share one key, ``"camera"`` (the RL items are all camera-motion questions). The
state is per process (the trainer's driver computes advantages).

Settings come from the environment, because verl's ``algorithm`` section is a strict dataclass:
``CAMREASONER_EMA_DECAY`` (0.99), ``CAMREASONER_EMA_MIN_STD`` (1e-3),
``CAMREASONER_EMA_GUARD`` (5.0). The estimator registers as ``ema_grpo`` in verl's registry when
this module is imported; every verl process imports it through the ``verl.plugins`` entry point
declared in ``pyproject.toml`` (module ``camreasoner.rl.verl_plugin``; or
``VERL_USE_EXTERNAL_MODULES=camreasoner.rl.verl_plugin``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

NAME = "ema_grpo"
DEFAULT_TASK = "camera"


@dataclass
class EmaStd:
    decay: float = 0.99
    min_std: float = 1e-3
    state: dict[str, tuple[float, float]] = field(default_factory=dict)  # task -> (m1, m2)

    def update(self, key: str, scores: np.ndarray) -> None:
        if scores.size == 0:
            return
        m1, m2 = float(scores.mean()), float((scores * scores).mean())
        if key in self.state:
            o1, o2 = self.state[key]
            m1 = self.decay * o1 + (1 - self.decay) * m1
            m2 = self.decay * o2 + (1 - self.decay) * m2
        self.state[key] = (m1, m2)

    def std(self, key: str) -> float:
        if key not in self.state:
            return 1.0
        m1, m2 = self.state[key]
        return max(math.sqrt(max(m2 - m1 * m1, 0.0)), self.min_std)


TRACKER = EmaStd()


def ema_grpo_advantages(scores: np.ndarray, groups: list, tracker: EmaStd, tasks: list | None = None,
                        guard: float = 5.0, eps: float = 1e-6) -> np.ndarray:
    """Per-response advantages (numpy reference and the implementation verl calls)."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = [str(g) for g in groups]
    tasks = [DEFAULT_TASK] * len(keys) if tasks is None else [str(t) for t in tasks]
    by_group: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        by_group.setdefault(k, []).append(i)
    centred = scores.copy()
    for pos in by_group.values():
        if len(pos) < 2:
            raise ValueError("EMA-GRPO needs at least 2 responses per prompt (rollout.n > 1)")
        centred[pos] = scores[pos] - scores[pos].mean()
    for task in sorted(set(tasks)):
        tracker.update(task, scores[[i for i, t in enumerate(tasks) if t == task]])
    adv = np.zeros_like(scores)
    for pos in by_group.values():
        task_std = tracker.std(tasks[pos[0]])
        scaled = centred[pos] / (task_std + eps)
        if np.any(np.abs(scaled) > guard):
            scaled = centred[pos] / (scores[pos].std() + eps)
        adv[pos] = scaled
    return adv


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def compute_ema_grpo_outcome_advantage(token_level_rewards, response_mask, index=None, config=None,
                                       **kwargs):
    """verl advantage-estimator signature: returns (advantages, returns), both (bs, T)."""
    import torch

    TRACKER.decay = _env_float("CAMREASONER_EMA_DECAY", 0.99)
    TRACKER.min_std = _env_float("CAMREASONER_EMA_MIN_STD", 1e-3)
    guard = _env_float("CAMREASONER_EMA_GUARD", 5.0)
    scores = token_level_rewards.sum(dim=-1).detach().float().cpu().numpy()
    groups = list(index) if index is not None else list(range(len(scores)))
    adv = ema_grpo_advantages(scores, groups, TRACKER, guard=guard)
    out = torch.as_tensor(adv, dtype=token_level_rewards.dtype,
                          device=token_level_rewards.device).unsqueeze(-1) * response_mask
    return out, out


def register() -> None:
    """Register with verl's advantage-estimator registry (idempotent)."""
    from verl.trainer.ppo import core_algos

    if core_algos.ADV_ESTIMATOR_REGISTRY.get(NAME) is not compute_ema_grpo_outcome_advantage:
        core_algos.register_adv_est(NAME)(compute_ema_grpo_outcome_advantage)

