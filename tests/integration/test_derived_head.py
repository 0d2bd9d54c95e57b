"""Reads that the stored rows cannot answer yet (a case written all the time) step this
process's derivation of the case (``HeadCache.derived``, ``CaseLog.derived_head``) through
the events since the last such read, instead of deriving the whole case again. Whatever
was written between two reads (contacts in any month, no-shows, retractions, another
process's writes), the stepped derivation equals a full derivation of the head."""

from __future__ import annotations

import random
from datetime import date, timedelta

import msgspec
import pytest

from application.application import CaseLog
from domain import facts as f
from domain.errors import CaseNotFound
from projections.derive import derive
from tests.builders import active_case, catalogue, contact, no_show, provider

PR = provider()


def full(app: CaseLog, case_id: object) -> tuple[int, object, object]:
    case = app.load_case(case_id)  # type: ignore[arg-type]
    d = derive(str(case_id), case.state, case.entries, catalogue(), case.version)
    day = date(2024, 7, 1)
    return case.version, msgspec.to_builtins(d.months), msgspec.to_builtins(d.entitlements_on(day))


def stepped(app: CaseLog, case_id: object) -> tuple[int, object, object]:
    case, d = app.derived_head(case_id, PR)  # type: ignore[arg-type]
    day = date(2024, 7, 1)
    return case.version, msgspec.to_builtins(d.months), msgspec.to_builtins(d.entitlements_on(day))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stepped_derivation_of_the_head_equals_a_full_one(store: CaseLog, seed: int) -> None:
    rng = random.Random(seed)
    case = active_case()
    store.import_cases([case])
    versions: list[int] = []
    for step in range(60):
        # given writes of any kind and month between two reads
        for _ in range(rng.randint(0, 4)):
            day = date(2024, 2, 1) + timedelta(days=rng.randint(0, 300))
            roll = rng.random()
            if roll < 0.7:
                v = store.record(case.id, PR, contact(day, minutes=rng.choice([15, 30, 45])))
                versions.append(v)
            elif roll < 0.85:
                store.record(case.id, PR, no_show(day))
            elif versions:
                target = versions.pop(rng.randrange(len(versions)))
                store.retract_event(
                    case.id, PR, f.Retraction(event_version=target, reason="dubbel")
                )
        # when the rows cannot answer and the head is derived by stepping
        # then it equals the head derived in full
        assert stepped(store, case.id) == full(store, case.id), step


def test_another_process_writes_are_stepped_through_too(store: CaseLog) -> None:
    case = active_case()
    store.import_cases([case])
    assert stepped(store, case.id) == full(store, case.id)
    other = CaseLog(store=store.store)  # another serving process on the same store
    try:
        for d in range(5):
            other.record(case.id, PR, contact(date(2024, 3, 1 + d)))
    finally:
        other.close()
    assert stepped(store, case.id) == full(store, case.id)


def test_a_case_out_of_scope_is_not_found_on_the_stepped_path(store: CaseLog) -> None:
    case = active_case()
    store.import_cases([case])
    with pytest.raises(CaseNotFound):
        store.derived_head(case.id, provider(name="aanbieder-b"))
