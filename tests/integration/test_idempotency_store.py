"""The Idempotency-Key table on both stores: claims, answers, and claims a dead process left."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.idempotency import PENDING, IdempotencyStore, new_service, worker_incarnation
from storage.config import store_config
from storage.views import ViewStore


@pytest.fixture
def views(database_url: str) -> Iterator[ViewStore]:
    v = ViewStore(store_config(database_url))
    try:
        yield v
    finally:
        v.close()


def test_a_live_claim_is_in_progress_for_a_second_request_of_the_same_process(
    views: ViewStore,
) -> None:
    # given a claim by this process
    store = IdempotencyStore(views)
    assert store.claim("zou", "u", "k1", "h") is None
    # when the same key arrives again while the first is running
    stored = store.claim("zou", "u", "k1", "h")
    # then it is told the first is still in progress
    assert stored is not None
    assert stored.status == PENDING


def test_a_dead_incarnations_claim_is_free_for_the_next_process(views: ViewStore) -> None:
    # given a claim left pending by a process that died (kill -9: no answer, no release)
    dead = IdempotencyStore(views)
    assert dead.claim("zou", "u", "k1", "h") is None
    time.sleep(0.01)
    # when a new process starts and a retry arrives at once (well within STALE_SECONDS)
    restarted = IdempotencyStore(views)
    # then the retry may run the command: the claim is its own now
    assert restarted.claim("zou", "u", "k1", "h") is None
    # and the other key of the dead process is released at start-up
    assert dead.claim("zou", "u", "k2", "h") is None
    later = IdempotencyStore(views)
    assert later.release_dead_claims() == 2
    assert later.claim("zou", "u", "k2", "h") is None


def test_release_at_start_up_keeps_answers_and_claims_made_after_the_start(
    views: ViewStore,
) -> None:
    # given an answered request and a pending claim of a dead process
    old = IdempotencyStore(views)
    assert old.claim("zou", "u", "done", "h") is None
    old.complete("zou", "u", "done", 200, b'{"version":4}', {"etag": '"4"'})
    assert old.claim("zou", "u", "lost", "h") is None
    time.sleep(0.01)
    new = IdempotencyStore(views)
    # and a claim the new process made itself
    assert new.claim("zou", "u", "mine", "h") is None
    # when the new process releases dead claims
    assert new.release_dead_claims() == 1
    # then the answer is kept, its own claim too, the dead claim is gone
    answered = new.claim("zou", "u", "done", "h")
    assert answered is not None
    assert (answered.status, answered.body) == (200, b'{"version":4}')
    mine = new.claim("zou", "u", "mine", "h")
    assert mine is not None
    assert mine.status == PENDING
    assert new.claim("zou", "u", "lost", "h") is None


def test_a_dead_claim_with_another_body_is_still_a_reused_key(views: ViewStore) -> None:
    dead = IdempotencyStore(views)
    assert dead.claim("zou", "u", "k", "first-body") is None
    time.sleep(0.01)
    stored = IdempotencyStore(views).claim("zou", "u", "k", "other-body")
    assert stored is not None
    assert stored.request_hash == "first-body"


def _worker(views: ViewStore, service: str, pid: int) -> IdempotencyStore:
    """A serving process ``pid`` of ``caselog serve --workers N`` (one service incarnation)."""
    return IdempotencyStore(views, service, pid)


def test_a_sibling_worker_starting_later_keeps_the_live_claims_of_the_others(
    views: ViewStore,
) -> None:
    # given a service whose first worker has a request running
    service = new_service()
    first = _worker(views, service, 101)
    time.sleep(0.01)
    assert first.claim("zou", "u", "running", "h") is None
    time.sleep(0.01)
    # when its sibling finishes starting after that claim was made
    second = _worker(views, service, 102)
    # then the sibling neither releases the claim nor takes it over: it is alive
    assert second.release_dead_claims() == 0
    stored = second.claim("zou", "u", "running", "h")
    assert stored is not None
    assert stored.status == PENDING


def test_the_claims_of_a_worker_that_died_are_released_and_only_those(
    views: ViewStore,
) -> None:
    service = new_service()
    dead, alive = _worker(views, service, 201), _worker(views, service, 202)
    assert dead.claim("zou", "u", "lost", "h") is None
    assert alive.claim("zou", "u", "mine", "h") is None
    # when the supervisor replaces the dead worker
    assert alive.release_claims_of(worker_incarnation(service, 201)) == 1
    # then a retry of its request runs at once; the live worker's claim stays
    assert alive.claim("zou", "u", "lost", "h") is None
    mine = dead.claim("zou", "u", "mine", "h")
    assert mine is not None
    assert mine.status == PENDING


def test_a_new_service_frees_the_claims_of_every_worker_of_the_old_one(
    views: ViewStore,
) -> None:
    old = new_service()
    for pid in (301, 302):
        assert _worker(views, old, pid).claim("zou", "u", f"k{pid}", "h") is None
    time.sleep(0.01)
    new = _worker(views, new_service(), 303)
    assert new.release_dead_claims() == 2
    assert new.claim("zou", "u", "k301", "h") is None


def test_grouped_claims_and_answers_share_a_transaction_and_fail_alone(
    views: ViewStore,
) -> None:
    import asyncio

    store = IdempotencyStore(views)

    def broken(cur: object) -> None:
        raise RuntimeError("this statement fails")

    async def main() -> list[object]:
        return await asyncio.gather(
            *(store.claim_grouped("zou", "u", f"g{i}", "h") for i in range(20)),
            store._group.run(broken),
            store.complete_grouped("zou", "u", "g0", 200, b'{"version":3}', {"etag": '"3"'}),
            return_exceptions=True,
        )

    try:
        results = asyncio.run(main())
    finally:
        store.close()
    # every claim was made, the failing operation failed alone, the answer was stored
    assert results[:20] == [None] * 20
    assert isinstance(results[20], RuntimeError)
    assert results[21] is None
    answered = store.claim("zou", "u", "g0", "h")
    assert answered is not None
    assert (answered.status, answered.body) == (200, b'{"version":3}')
    again = store.claim("zou", "u", "g7", "h")
    assert again is not None
    assert again.status == PENDING
