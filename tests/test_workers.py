"""camreasoner.media.workers.spawn_map: tqdm's process_map in spawned processes."""

from __future__ import annotations

import math
import os

import pytest

from camreasoner.media.workers import spawn_map


def _pid(_: object) -> int:
    return os.getpid()


def test_results_in_order_in_spawned_workers_with_a_bar_that_counts_items(capfd):
    items = list(range(40, 0, -1))
    assert spawn_map(math.factorial, items, 3, desc="jobs", unit="job") == \
        [math.factorial(x) for x in items]
    # the bar counts items, not chunks (tqdm 4.70 with chunksize > 1 stopped at 5/40: #1791)
    assert "40/40" in capfd.readouterr().err
    pids = set(spawn_map(_pid, range(8), 2, progress=False))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_one_worker_or_one_item_runs_here():
    assert set(spawn_map(_pid, range(3), 1, progress=False)) == {os.getpid()}
    assert spawn_map(_pid, [0], 4, progress=False) == [os.getpid()]
    assert spawn_map(_pid, [], 4, progress=False) == []


def test_a_failing_item_raises_its_error():
    for workers in (1, 2):
        with pytest.raises(ValueError, match="math domain error"):
            spawn_map(math.sqrt, [4.0, -1.0, 9.0], workers, progress=False)
