"""Per-clip jobs (probing, decoding, rendering) in worker processes, with a progress bar.

:func:`spawn_map` is tqdm's ``process_map`` (``list(map(fn, items))`` in a process pool: results
in order, the first exception raised, a bar that advances as jobs finish) with our two choices:

- the "spawn" start method: a forked child of a process whose torch has started its OpenMP threads
  can hang in its first op, and the demo and the CLI may have imported torch before they render,
  check or estimate (the reason :func:`camreasoner.media.frames.start_pool` spawns too);
- no pool for one worker or one job: the jobs run in this process, under the same bar.

Functions whose failures are per item (a clip that does not decode) return the error instead of
raising it, so one bad clip is reported and the others go on.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

_SPAWN = multiprocessing.get_context("spawn")


class _SpawnBar(tqdm):
    """tqdm.auto's bar with its write lock from the spawn context. ``process_map`` gives every
    worker the bar class's lock (for bars drawn there); tqdm's own is made by the default context
    (fork on Linux), and multiprocessing refuses to send a fork-context lock to a spawned child.
    A class of its own, so tqdm's global lock stays as it is."""


def spawn_map(fn: Callable[[T], R], items: Sequence[T], workers: int, *,
              desc: str | None = None, unit: str = "it", progress: bool = True) -> list[R]:
    """``[fn(x) for x in items]`` in ``workers`` spawned processes (``fn`` and the items must
    pickle), or in this process when ``workers <= 1`` or there is at most one item."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in tqdm(items, desc=desc, unit=unit, disable=not progress)]
    from tqdm.contrib.concurrent import process_map

    if "_lock" not in vars(_SpawnBar):
        _SpawnBar.set_lock(_SPAWN.RLock())
    # One job a task: tqdm 4.70's process_map advances its bar once a *chunk* (tqdm issue #1791:
    # chunksize=8 ends at 1/8 of the total). A job here is a clip (milliseconds to seconds), so
    # sending them one by one costs nothing that shows.
    return process_map(fn, items, max_workers=workers, chunksize=1, mp_context=_SPAWN,
                       tqdm_class=_SpawnBar, desc=desc, unit=unit, disable=not progress)
