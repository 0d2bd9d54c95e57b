"""Snapshots of the group committer's saves are written by a thread of their own
(``storage.snapshot_writer``), beside the write path: the HTTP write's p99 was a stall of
every batch while the snapshots of cases written at the same pace were encoded and inserted
(docs/performance.md). Loads agree with a replay whether a snapshot is written yet or not."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from uuid import uuid4

from application.application import CaseLog
from domain import facts as f
from storage.eventstore import fast_project, snapshot_offset
from storage.snapshot_writer import SnapshotWriter
from tests.builders import contact, indication, municipality, provider, referral


def started(store: CaseLog) -> object:
    case_id, _ = store.open_case(municipality(), referral())
    store.record(case_id, municipality(), indication())
    store.record(case_id, provider(), f.CareStart(started_on=date(2024, 1, 20)))
    return case_id


async def contacts(store: CaseLog, case_id: object, n: int) -> int:
    version = 0
    for i in range(n):
        version = await store.record_async(
            case_id,  # type: ignore[arg-type]
            provider(),
            contact(on=date(2024, 2, 1) + timedelta(days=i % 300)),
        )
    return version


def test_group_committed_writes_are_snapshotted_by_the_writer_thread(store: CaseLog) -> None:
    # given a case written through the group committer past its first snapshot step
    case_id = started(store)
    version = asyncio.run(contacts(store, case_id, 240))
    assert version == 243
    # when the snapshots handed over are written
    store.flush_snapshots()
    # then the case has one, taken at its own offset from the step, by the writer thread
    assert store.snapshots is not None
    taken = [s.originator_version for s in store.snapshots.get(case_id)]  # type: ignore[arg-type]
    assert taken, "a snapshot past version 100"
    offset = snapshot_offset(case_id, 100)  # type: ignore[arg-type]
    assert all((v + offset) % 100 == 0 for v in taken)
    assert store._snapshot_writer is not None
    assert store._snapshot_writer.written == len(taken)
    # and a load from it equals a replay of the events
    loaded = store.load_case(case_id)  # type: ignore[arg-type]
    replayed = fast_project(None, store.events.get(case_id))  # type: ignore[arg-type]
    assert replayed is not None
    assert (loaded.version, loaded.state, loaded.entries) == (
        replayed.version, replayed.state, replayed.entries,
    )  # fmt: skip


def test_a_destroyed_case_gets_no_snapshot_written_after_its_rows_are_gone_R33(
    store: CaseLog,
) -> None:
    # given a case written through the group committer, its snapshots perhaps not written yet
    case_id = started(store)
    asyncio.run(contacts(store, case_id, 240))
    # when it is destroyed at once
    store.delete_case(case_id)  # type: ignore[arg-type]
    # then no snapshot of it is left, now or after the writer is done
    store.flush_snapshots()
    assert store.snapshots is not None
    assert list(store.snapshots.get(case_id)) == []  # type: ignore[arg-type]


def test_the_writer_logs_a_failed_write_and_writes_the_next() -> None:
    # given a writer whose first write fails
    written: list[object] = []

    def put(snapshots: object) -> None:
        if not written:
            written.append("failed")
            raise RuntimeError("disk full")
        written.append(snapshots)

    writer = SnapshotWriter(put)
    try:
        # when two hand-overs are written one after the other
        writer.submit(["a"])
        assert writer.flush()
        writer.submit(["b"])
        assert writer.flush()
        # then the failure is counted, and the next write went through
        assert (writer.failed, writer.written) == (1, 1)
        assert written == ["failed", ["b"]]
    finally:
        writer.close()


def test_offsets_spread_the_snapshots_of_cases_written_at_the_same_pace() -> None:
    # given 50 cases at the same version, written one event at a time
    offsets = {snapshot_offset(uuid4(), 100) for _ in range(50)}
    # then their first snapshots do not all fall on the same version
    assert len(offsets) > 25
    assert all(0 <= o < 100 for o in offsets)
