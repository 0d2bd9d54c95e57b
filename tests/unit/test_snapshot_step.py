"""Snapshots of a long case (issue 15): the step between two grows with the case, so a
write's share of snapshot encoding stays the same whatever the case's length, and a load
replays at most a tenth of the case after the latest snapshot."""

from __future__ import annotations

from itertools import pairwise

from storage.eventstore import snapshot_step


def snapshot_versions(interval: int, up_to: int) -> list[int]:
    return [v for v in range(1, up_to + 1) if v % snapshot_step(interval, v) == 0]


def test_short_cases_are_snapshot_every_interval() -> None:
    assert snapshot_versions(100, 1_000) == list(range(100, 1_001, 100))


def test_the_step_grows_with_the_case_and_bounds_replay_and_encoding_per_write() -> None:
    versions = snapshot_versions(100, 50_000)
    for before, after in pairwise(versions):
        # a load between two snapshots replays at most a tenth of the case (plus a step)
        assert after - before <= max(100, after // 10)
    for start in range(1_000, 45_000, 500):
        # entries encoded per write over a stretch of the case's life: the snapshots taken
        # in it x the case's length / the writes in it, the same at 1,000 as at 45,000
        stretch = start // 2
        taken = sum(1 for v in versions if start <= v < start + stretch)
        assert taken * (start + stretch) / stretch <= 30, start
