"""Small view-store writes of the message path, committed in groups.

Each message adds a ledger row and, for a grant, its lookup rows. One transaction each
would put a commit (an fsync) per message beside the events' own; under concurrent load a
single writer thread commits whatever is waiting in one transaction instead, like the
event store's group committer, and each caller waits until its rows are committed.
"""

from __future__ import annotations

import queue
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from storage.views import ViewStore

Statement = tuple[str, tuple[Any, ...]]
MAX_BATCH = 500
IDLE_SECONDS = 5.0


@dataclass
class _Job:
    statements: list[Statement]
    done: threading.Event = field(default_factory=threading.Event)
    rowcount: int = 0
    error: BaseException | None = None


class GroupWriter:
    """One writer thread per view store; ``write`` returns the first statement's rowcount."""

    def __init__(self, views: ViewStore) -> None:
        self.views = views
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="iwmo-writes", daemon=True)
        self.thread.start()

    def submit(self, statements: list[Statement]) -> _Job:
        job = _Job(statements)
        self.jobs.put(job)
        return job

    @staticmethod
    def wait(job: _Job) -> int:
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.rowcount

    def _run(self) -> None:
        while True:
            try:
                first = self.jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _lock:  # idle: retire (a new writer starts on the next write)
                    if self.jobs.empty():
                        _writers.pop(self.views, None)
                        self.views.close()
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception:  # nothing of the batch was written: each job on its own, so
                for job in batch:  # one failing statement fails only its own caller
                    try:
                        self._commit([job])
                    except Exception as error:
                        job.error = error
            for job in batch:
                job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        with self.views.transaction() as cur:
            for job in batch:
                for n, (sql, params) in enumerate(job.statements):
                    cur.execute(self.views.sql(sql), params)
                    if n == 0:
                        job.rowcount = cur.rowcount


_writers: weakref.WeakKeyDictionary[ViewStore, GroupWriter] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def write(views: ViewStore, statements: list[Statement]) -> int:
    """Commit ``statements`` in one group transaction; the first one's rowcount."""
    with _lock:
        writer = _writers.get(views)
        if writer is None:
            writer = _writers[views] = GroupWriter(views)
        job = writer.submit(statements)
    return GroupWriter.wait(job)
