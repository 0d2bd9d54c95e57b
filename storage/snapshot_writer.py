"""Snapshots written beside the write path, not in it.

A case is snapshotted when a save reaches a multiple of its snapshot step
(``eventstore.snapshot_step``). Taking the snapshot copies the case's entries (so it is the
case at that version whatever is appended later); encoding it and inserting it costs the
length of the case, and done inside the group committer's save it held up the whole batch
and every batch behind it. With 50 cases written at the same rate, all of them crossed a
step within the same few batches: a write load of 2,400 commands/s stalled for 50-150 ms
every two seconds, which was the p99 of an HTTP write (docs/performance.md).

So the group committer's saves hand the snapshots they took to this thread, which writes
them in its own transactions. A snapshot only shortens later loads: one that is not
written yet (or lost with a killed process) means a load replays more events, never a
different case. ``flush`` waits for what was handed over (the R-33 destruction of a case
waits, so no snapshot is written after its rows are gone; ``close`` too).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from storage.batches import drain

log = structlog.get_logger("caselog.snapshots")
#: hand-overs written in one transaction at most
BATCH = 64


class SnapshotWriter:
    """One thread that writes the snapshots handed to it, together when several wait."""

    def __init__(self, put: Callable[[Sequence[Any]], object]) -> None:
        self._put = put
        self._queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._loop, name="snapshot-writer", daemon=True)
        self._thread.start()

    def submit(self, snapshots: list[Any]) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(snapshots)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every snapshot handed over is written (or failed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        drain(self._queue, BATCH, self._write)

    def _write(self, batch: list[list[Any]]) -> None:
        snapshots = [s for group in batch for s in group]
        try:
            self._put(snapshots)
            self.written += len(snapshots)
        except Exception as e:  # an optimisation only: the next step takes another
            self.failed += len(snapshots)
            log.warning("snapshot_write_failed", snapshots=len(snapshots), error=str(e))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()
