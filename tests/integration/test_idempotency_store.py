"""The Idempotency-Key table on both stores: claims, answers, and claims a dead process left."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api.idempotency import PENDING, IdempotencyStore
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
