"""R-18 (hours signals) read from each month's kept use (``projections.signals._MonthUse``)
equals R-18 read decision by decision over the whole case, as the rule states it: a month's
use at least double the weekly volume's share of that month; 80% of the granted hours used
while the rest will not last until the end date; an extension request due 8 weeks before the
hours run out at the pace of the last 8 weeks."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.state import Assignment, CaseState
from projections.consumption import (
    MonthConsumption,
    granted_minutes,
    month_bounds,
    weekly_minutes,
)
from projections.derive import derive
from projections.signals import Signal, _hours
from tests.builders import catalogue, hours, indication, municipality, provider, referral
from tests.unit.projections.test_derive import over_random_histories, random_history

_encode = msgspec.json.Encoder().encode


def r18_decision_by_decision(
    state: CaseState,
    cat: Catalogue,
    change_requests: list[date],
    months: dict[str, MonthConsumption],
) -> list[Signal]:
    """The reference: every declarable decision of every month in order, for every hourly
    assignment (what ``_hours`` did before it kept each month's use)."""
    out: list[Signal] = []
    use_raised: set[str] = set()
    for a in state.assignments:
        product = cat.product_any(a.product)
        if product is None or product.financing != "hourly":
            continue
        weekly, granted = weekly_minutes(a), granted_minutes(a)
        if weekly <= 0:
            continue

        def closes(after: date, a: Assignment = a) -> date | None:
            later = [d for d in change_requests if d >= after]
            candidates = [*later[:1], a.until + timedelta(days=1)]
            if state.ended_on:
                candidates.append(state.ended_on)
            return min(candidates)

        used = Decimal(0)
        eighty_raised = False
        pace: list[tuple[date, int]] = []
        for key, m in months.items():
            first, last = month_bounds(key)
            days_valid = max(0, (min(a.until, last) - max(a.starts_on, first)).days + 1)
            in_month = 0
            for d in m.decisions:
                day = d.occurred_on
                if d.declarable_minutes == 0 or not a.valid_on(day):
                    continue
                in_month += d.declarable_minutes
                used += d.declarable_minutes
                pace.append((day, d.declarable_minutes))
                if days_valid and in_month >= 2 * weekly * days_valid / 7 and key not in use_raised:
                    use_raised.add(key)
                    out.append(Signal(rule="R-18", raised_on=day, closed_on=closes(day),
                                      detail=f"use in {key} ({in_month / 60:.1f} h) is double the "
                                      f"indicated {weekly / 60:.1f} h/week: contact the local team"))  # fmt: skip
                if (
                    not eighty_raised
                    and granted
                    and used >= Decimal("0.8") * granted
                    and granted - used < weekly * (a.until - day).days / 7
                ):
                    eighty_raised = True
                    out.append(Signal(rule="R-18", raised_on=day, closed_on=closes(day),
                                      detail=f"80% of {granted / 60:.1f} h used on {day}; the rest "
                                      f"will not last until {a.until}: contact the local team"))  # fmt: skip
        if pace:
            last_day = pace[-1][0]
            recent = sum(n for d, n in pace if d > last_day - timedelta(weeks=8))
            per_day = Decimal(recent) / 56
            if per_day > 0 and granted > used:
                run_out = last_day + timedelta(days=int((granted - used) / per_day))
                if run_out < a.until:
                    raise_on = max(run_out - timedelta(weeks=8), a.starts_on)
                    out.append(Signal(rule="R-18", raised_on=raise_on, closed_on=closes(raise_on),
                                      detail="at the pace of the last 8 weeks the hours run out on "
                                      f"{run_out}, before {a.until}: "
                                      "file a motivated extension request 8 weeks ahead"))  # fmt: skip
    return out


def assert_kept_equals_reference(case: Case, cat: Catalogue, raised: set[str]) -> None:
    previous = None
    c = None
    for recorded in case.collect_events():
        c = recorded.mutate(c)
        d = derive(str(c.id), c.state, c.entries, cat, c.version, previous)
        previous = d
        requests = sorted(
            e.occurred_on
            for e in c.entries
            if not e.retracted and isinstance(e.fact, f.ChangeRequest)
        )
        kept = _hours(c.state, cat, requests, d.months, d.fold.folds)
        assert _encode(kept) == _encode(r18_decision_by_decision(c.state, cat, requests, d.months))
        raised.update(s.detail.split(" ")[0] for s in kept)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@over_random_histories
def test_r18_from_kept_month_use_equals_decision_by_decision_property(
    product: str, weekly: Decimal, total: bool, priced: bool, data: st.DataObject
) -> None:
    # given random ZOU histories with small volumes (R-17 cuts), scale changes, extensions,
    # change requests, corrections, retractions and ends, derived version by version (with
    # hourly prices or without)
    cat = catalogue("zou").with_example_tariffs() if priced else catalogue("zou")
    case = random_history(product, weekly, total, data, cat)
    raised: set[str] = set()
    # when R-18 is read from the months' kept use, then it equals the reference
    assert_kept_equals_reference(case, cat, raised)
    for kind in sorted(raised):
        event(f"R-18 raised: {kind}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weekly=st.sampled_from([1, 2, 4]),
    contacts=st.lists(
        st.tuples(st.integers(0, 330), st.integers(15, 240)), min_size=10, max_size=90
    ),
    scale_on=st.none() | st.integers(30, 300),
    request_on=st.none() | st.integers(30, 330),
    ends_after=st.none() | st.integers(0, 30),
)
def test_r18_all_three_signals_from_kept_month_use_equal_decision_by_decision_property(
    weekly: int,
    contacts: list[tuple[int, int]],
    scale_on: int | None,
    request_on: int | None,
    ends_after: int | None,
) -> None:
    # given a case with many direct contacts against a small weekly volume (each R-18
    # signal fires: double use in a month, 80% used early, hours running out at the pace),
    # sometimes a scale change (two hourly assignments), a change request and an end
    cat = catalogue("zou")
    start = date(2024, 1, 15)
    case = Case.open(municipality(), referral(on=start - timedelta(days=7)), cat)
    case.record(municipality(), indication("02A05", starts_on=start, ends_on=date(2024, 12, 31),
                                           volume=hours(weekly)), cat)  # fmt: skip
    case.record(provider(), f.CareStart(started_on=start), cat)
    for i, (day, minutes) in enumerate(contacts):
        if scale_on is not None and i == len(contacts) // 2:
            scale = f.ScaleChange(effective_on=start + timedelta(days=scale_on), product="02A04",
                                  volume=hours(weekly + 2), decided_on=start)  # fmt: skip
            case.record(municipality(), scale, cat)
        if request_on is not None and i == len(contacts) // 3:
            request = f.ChangeRequest(request_id="R1", kind="extension",
                                      ends_on=date(2025, 3, 31),
                                      effective_on=start + timedelta(days=request_on),
                                      report="verlenging nodig")  # fmt: skip
            case.record(provider(), request, cat)
        case.record(provider(), f.Contact(occurred_on=start + timedelta(days=day), minutes=minutes,
                                          kind="direct", channel="in_person"), cat)  # fmt: skip
    if ends_after is not None:
        last = max(day for day, _ in contacts)
        ended_on = start + timedelta(days=last + ends_after)
        case.record(provider(), f.End(ended_on=ended_on, reason="19"), cat)
    raised: set[str] = set()
    # when R-18 is read from the months' kept use, then it equals the reference
    assert_kept_equals_reference(case, cat, raised)
    for kind in sorted(raised):
        event(f"R-18 raised: {kind}")


def test_r18_month_use_is_kept_with_an_unchanged_month_and_read_again_for_a_changed_one() -> None:
    # given a case whose months each hold contacts, derived version by version
    cat = catalogue("zou")
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), cat)
    case.record(municipality(), indication("02A05", starts_on=date(2024, 1, 15),
                                           ends_on=date(2024, 12, 31), volume=hours(4)), cat)  # fmt: skip
    case.record(provider(), f.CareStart(started_on=date(2024, 1, 15)), cat)
    for month in range(2, 6):
        case.record(provider(), f.Contact(occurred_on=date(2024, month, 10), minutes=60,
                                          kind="direct", channel="in_person"), cat)  # fmt: skip
    d = derive(str(case.id), case.state, case.entries, cat, case.version)
    d.signals  # noqa: B018 - computed on first use
    assert all(any(k[0] == "R-18" for k in fold.memo) for fold in d.fold.folds.values())
    # when a contact is added to April
    case.record(provider(), f.Contact(occurred_on=date(2024, 4, 11), minutes=60,
                                      kind="direct", channel="in_person"), cat)  # fmt: skip
    step = derive(str(case.id), case.state, case.entries, cat, case.version, d)
    step.signals  # noqa: B018 - computed on first use
    # then February and March keep their fold and what was read from it; April is new
    assert step.fold.folds["2024-02"] is d.fold.folds["2024-02"]
    assert step.fold.folds["2024-03"].memo is d.fold.folds["2024-03"].memo
    assert step.fold.folds["2024-04"].memo is not d.fold.folds["2024-04"].memo
    assert any(k[0] == "R-18" for k in step.fold.folds["2024-04"].memo)
