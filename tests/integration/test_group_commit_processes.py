"""Two serving processes on one PostgreSQL database (``caselog serve --workers N``): each
has its own group committer with its own kept copies of the cases it wrote. A committer
brings its copies to the store's head before it applies a batch, so a case written by the
other process is judged on its latest state: no false 412, no collision, no gap."""

from __future__ import annotations

import threading
from uuid import UUID

import pytest

from application.application import CaseLog
from domain.errors import VersionMismatch
from storage.config import store_config
from tests.builders import contact, municipality, provider
from tests.integration.test_case_store import opened_and_started

pytestmark = pytest.mark.postgres


@pytest.fixture
def two(pg_url: str) -> tuple[CaseLog, CaseLog]:
    first = CaseLog(store=store_config(pg_url), take_turns=True)
    second = CaseLog(store=store_config(pg_url), take_turns=True)
    yield first, second
    first.close()
    second.close()


def _committer(app: CaseLog):  # type: ignore[no-untyped-def]
    assert app._committer is not None
    return app._committer


def test_a_case_written_by_the_other_process_is_judged_on_its_latest_version(
    two: tuple[CaseLog, CaseLog],
) -> None:
    first, second = two
    case_id, version = opened_and_started(first)  # first keeps this case at `version`
    # when the other process writes the case twice
    v = second.record(case_id, provider(), contact())
    v = second.record(case_id, provider(), contact())
    # then the first, asked with If-Match of the newest version, is not told 412
    assert first.record(case_id, provider(), contact(), expected_version=v) == v + 1
    # and an If-Match of the version it kept is refused: it is no longer the newest
    with pytest.raises(VersionMismatch):
        first.record(case_id, provider(), contact(), expected_version=version)
    # and no batch had to fall back to command-by-command
    assert _committer(first).conflicts == 0
    assert _committer(second).conflicts == 0


def test_concurrent_writes_from_two_processes_to_the_same_cases_are_gap_free(
    two: tuple[CaseLog, CaseLog],
) -> None:
    first, second = two
    cases = [opened_and_started(first)[0] for _ in range(3)]
    versions: list[tuple[UUID, int]] = []
    lock = threading.Lock()

    def writer(app: CaseLog, case_id: UUID) -> None:
        for _ in range(15):
            v = app.record(case_id, provider(), contact())
            with lock:
                versions.append((case_id, v))

    threads = [
        threading.Thread(target=writer, args=(app, cid))
        for app in (first, second)
        for cid in cases
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every write got its own version: none lost, none doubled, no gaps
    assert len(versions) == len(set(versions)) == 2 * 3 * 3 * 15
    for cid in cases:
        history = first.get_history(cid, municipality())
        assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
        assert len(history) == 3 + 2 * 3 * 15
    # the committers took turns: collisions are the exception, not the rule
    batches = _committer(first).batches + _committer(second).batches
    conflicts = _committer(first).conflicts + _committer(second).conflicts
    assert conflicts <= batches // 10
