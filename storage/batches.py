"""The loop of a writer thread that batches: the group committer
(``application.group_commit``), the Idempotency-Key writer (``api.idempotency``) and the
snapshot writer (``storage.snapshot_writer``) each take what is waiting and write it
together."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any


def drain(source: queue.SimpleQueue[Any], limit: int, run: Callable[[list[Any]], None]) -> None:
    """A writer thread's loop: wait for an item, take everything else waiting (up to
    ``limit``) and ``run`` it as one batch; ``None`` in the queue ends the loop after the
    items before it ran."""
    while True:
        item = source.get()
        if item is None:
            return
        batch = [item]
        while len(batch) < limit:
            try:
                nxt = source.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                run(batch)
                return
            batch.append(nxt)
        run(batch)
