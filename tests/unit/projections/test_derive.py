"""Each case version derived from the one before (projections.derive) equals the version
derived in full from all its facts: consumption with every decision (R-10..R-17, R-20,
R-26, R-02), the KPI summary and items, entitlements and signals; and the API documents
they are encoded into are byte for byte the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from application.demo import generate
from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import DomainError
from domain.values import Volume
from projections.consumption import consumption
from projections.declarations import declaration_lines
from projections.derive import Derived, derive
from projections.entitlement import entitlements
from projections.kpi_cells import items, timeline
from projections.kpis import summarise
from projections.signals import signals
from tests.builders import (
    at,
    catalogue,
    hours,
    indication,
    municipality,
    pieces,
    provider,
    referral,
)

_encode = msgspec.json.Encoder().encode


def document(d: Derived) -> bytes:
    on_a_day = d.entitlements_on(date(2024, 6, 30))
    # the consumption rows' documents (kept with a month from version to version)
    assert [doc for _, doc in d.month_docs()] == [_encode(m).decode() for m in d.months.values()]
    return _encode(
        [d.months, d.summary, sorted(d.items.items()), d.entitlements, d.signals, on_a_day]
    )


def replay_both_ways(events: list[Any], cat: Catalogue) -> int:
    """Fold the events one by one; at each version compare the incremental derivation with
    the full one. Returns how many versions were derived from the one before."""
    case: Any = None
    previous: Derived | None = None
    incremental = 0
    stepped: list[tuple[str, Any]] = []
    whole: list[tuple[str, Any]] = []
    for recorded in events:
        case = recorded.mutate(case)
        cid = str(case.id)
        step = derive(cid, case.state, case.entries, cat, case.version, previous)
        full = derive(cid, case.state, case.entries, cat, case.version)
        incremental += step.from_previous
        assert document(step) == document(full), f"version {case.version}: {type(recorded)}"
        # what is kept with the months (R-18 use, declaration lines) equals a reading
        # without them
        assert _encode(step.declaration_lines) == _encode(
            declaration_lines(cid, case.state, case.entries, cat)
        )
        assert _encode(step.signals) == _encode(signals(case.state, case.entries, cat))
        previous = step
        instant = f"2024-01-01T00:00:{case.version:06d}"
        stepped.append((instant, step.items))
        whole.append((instant, dict(full.items)))  # plain dicts: compared item by item
    # the kpi_item rows from the versions derived one from another (timeline compares only
    # the items a contact touched) equal those from every version in full
    rows, valid = timeline(cid, {}, stepped)
    expected_rows, expected_valid = timeline(cid, {}, whole)
    assert sorted(rows, key=repr) == sorted(expected_rows, key=repr)
    assert valid == expected_valid
    return incremental


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=100_000), cases=st.integers(1, 6))
def test_incremental_derivation_equals_full_derivation_over_demo_histories_property(
    seed: int, cases: int
) -> None:
    # given the demo's random histories (both tenants: hourly and result financing; direct,
    # indirect, digital and group contacts; no-shows; evaluations; scale changes;
    # extensions; ends; corrections and retractions)
    for case in generate(cases, seed=seed):
        cat = catalogue(case.state.tenant)
        # when each version is derived from the one before, then it equals the full one
        events = list(case.collect_events())
        assert replay_both_ways(events, cat) >= len(events) // 2


START = date(2024, 1, 15)
END = date(2024, 12, 31)


def days_in_care(start: date = START) -> st.SearchStrategy[date]:
    return st.builds(lambda n: start + timedelta(days=n), st.integers(-20, 360))


day_in_care = days_in_care()


@st.composite
def contact_fact(draw: st.DrawFn, start: date = START) -> f.Fact:
    kind = draw(st.sampled_from(["direct", "direct", "indirect", "group"]))
    channel = "digital" if kind == "direct" and draw(st.booleans()) else "in_person"
    group = kind == "group"
    return f.Contact(
        occurred_on=draw(days_in_care(start)),
        minutes=draw(st.integers(5, 600)),
        kind=kind,  # type: ignore[arg-type]
        channel=channel,  # type: ignore[arg-type]
        professionals=draw(st.integers(1, 3)) if group else 1,
        participants=draw(st.integers(1, 8)) if group else 1,
    )


@st.composite
def no_show_fact(draw: st.DrawFn, start: date = START) -> f.Fact:
    day = draw(days_in_care(start))
    hours_ahead = draw(st.none() | st.integers(1, 72))
    return f.NoShow(
        scheduled_at=at(day),
        cancelled_at=at(day) - timedelta(hours=hours_ahead) if hours_ahead else None,
        planned_minutes=draw(st.none() | st.integers(15, 120)),
    )


OPS = ["contact"] * 8 + ["no_show"] * 3 + ["evaluation", "retract", "correct", "scale"]
OPS += ["extend", "end", "request"]


ZOU_PRODUCTS = ("02A03", "02A04", "02A05")
#: result financing (R-02), valid across the switch from four-weekly to weekly settlement
#: (2021-01-01) and, for scale changes in 2021, per calendar month (-MO)
RESULT_PRODUCTS = ("IB1", "IB2", "IB3")
RESULT_SCALES = (*RESULT_PRODUCTS, "IB1-MO", "IB2-MO")
#: a trajectory across the settlement switch
RESULT_START, RESULT_END = date(2020, 7, 6), date(2021, 6, 30)

#: the arguments of ``random_history``, drawn (a ZOU product, a weekly or total volume), and
#: whether the catalogue has prices (the seeds give ZOU none: amounts unknown; the demo's
#: example tariffs give amounts due)
over_random_histories = given(
    product=st.sampled_from(ZOU_PRODUCTS),
    weekly=st.sampled_from([Decimal("0.5"), Decimal(2), Decimal(4), Decimal(8)]),
    total=st.booleans(),
    priced=st.booleans(),
    data=st.data(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@over_random_histories
def test_incremental_derivation_equals_full_derivation_over_random_histories_property(
    product: str, weekly: Decimal, total: bool, priced: bool, data: st.DataObject
) -> None:
    # given a ZOU case with random facts in random order: contacts and no-shows in any
    # month (also months already past), indirect, digital and group time, timely and late
    # cancellations, a small total volume, corrections, retractions, scale changes,
    # an extension and an end; with hourly prices or without
    cat = catalogue("zou").with_example_tariffs() if priced else catalogue("zou")
    case = random_history(product, weekly, total, data, cat)
    # when each version is derived from the one before, then it equals the full derivation
    assert replay_both_ways(list(case.collect_events()), cat) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(product=st.sampled_from(RESULT_PRODUCTS), priced=st.booleans(), data=st.data())
def test_incremental_derivation_equals_full_derivation_over_result_financed_histories_property(
    product: str, priced: bool, data: st.DataObject
) -> None:
    # given a Drechtsteden case (result financing, R-02: period prices follow the start, the
    # end and the last month of activity) with random facts in random order, among them
    # scale changes to another product of the tenant; with the weekly prices from 2021 (the
    # demo's example tariffs) or without
    cat = catalogue("drechtsteden")
    if priced:
        cat = cat.with_example_tariffs()
    case = random_history(
        product, Decimal(0), False, data, cat, RESULT_SCALES, RESULT_START, RESULT_END
    )
    # when each version is derived from the one before (the billed months kept where the
    # billing and the month's fold are the same), then it equals the full derivation
    assert replay_both_ways(list(case.collect_events()), cat) > 0


def random_history(
    product: str,
    weekly: Decimal,
    total: bool,
    data: st.DataObject,
    cat: Catalogue,
    products: Sequence[str] = ZOU_PRODUCTS,
    start: date = START,
    end: date = END,
) -> Case:
    """A case with random facts in random order (see the properties above): of ZOU with an
    hourly volume, or of another tenant (result financing) with the products' own volume;
    scale changes choose among ``products``."""
    tenant = cat.tenant
    gm, pr = municipality(tenant), provider(tenant)
    hourly = tenant == "zou"
    volume: Volume | None = None
    if hourly:
        volume = (
            Volume(amount=weekly * 20, unit="hour", frequency="total") if total else hours(weekly)
        )
    case = Case.open(gm, referral(tenant, on=start - timedelta(days=7)), cat)
    case.record(gm, indication(product, starts_on=start, ends_on=end, volume=volume), cat)
    case.record(pr, f.CareStart(started_on=start), cat)
    facts = [1, 2, 3]
    for op in data.draw(st.lists(st.sampled_from(OPS), min_size=5, max_size=40)):
        try:
            if op == "contact":
                case.record(pr, data.draw(contact_fact(start)), cat)
                facts.append(case.version)
            elif op == "no_show":
                case.record(pr, data.draw(no_show_fact(start)), cat)
                facts.append(case.version)
            elif op == "evaluation":
                zrm = {"financien": data.draw(st.integers(1, 5)), "huisvesting": 3}
                day = data.draw(days_in_care(start))
                case.record(pr, f.Evaluation(evaluated_on=day, kind="periodic", zrm=zrm), cat)
            elif op == "retract" and len(facts) > 3:
                target = data.draw(st.sampled_from(facts[3:]))
                case.retract(pr, f.Retraction(event_version=target, reason="dubbel"), cat)
            elif op == "correct" and len(facts) > 3:
                target = data.draw(st.sampled_from(facts[3:]))
                old = case.entry(target).fact
                if isinstance(old, f.Contact):
                    new: f.Fact = msgspec.structs.replace(
                        old,
                        occurred_on=data.draw(days_in_care(start)),
                        minutes=data.draw(st.integers(5, 300)),
                    )
                    fix = f.Correction(event_version=target, replacement=new, reason="minuten")  # type: ignore[arg-type]
                    case.correct(pr, fix, cat)
                else:
                    continue
            elif op == "scale":
                scale = f.ScaleChange(
                    effective_on=data.draw(days_in_care(start)),
                    product=data.draw(st.sampled_from(products)),
                    volume=hours(data.draw(st.sampled_from([1, 3, 6]))) if hourly else pieces(),
                    decided_on=start,
                )
                case.record(gm, scale, cat)
            elif op == "extend":
                ends = end + timedelta(days=data.draw(st.integers(30, 200)))
                current = case.state.current
                if current is not None:
                    extension = f.Extension(
                        assignment_number=current.assignment_number, ends_on=ends, decided_on=end
                    )
                    case.record(gm, extension, cat)
            elif op == "end":
                latest = max((e.occurred_on for e in case.entries), default=start)
                day = latest + timedelta(days=data.draw(st.integers(0, 40)))
                case.record(pr, f.End(ended_on=day, reason="19"), cat)
            elif op == "request":
                request = f.ChangeRequest(
                    request_id=f"R{case.version}",
                    kind="extension",
                    ends_on=end + timedelta(days=90),
                    effective_on=data.draw(days_in_care(start)),
                    report="verlenging nodig",
                )
                case.record(pr, request, cat)
        except DomainError:
            continue  # a fact the rules refuse is not recorded
        event(f"recorded: {op}")
    return case


def test_a_contact_in_an_earlier_month_refolds_from_that_month_and_keeps_the_months_before() -> (
    None
):
    # given a case with contacts in February, March and April (R-11 indirect time carried)
    cat = catalogue("zou")
    case = Case.open(municipality(), referral(on=START - timedelta(days=7)), cat)
    case.record(municipality(), indication("02A05", starts_on=START, ends_on=END), cat)
    case.record(provider(), f.CareStart(started_on=START), cat)
    for month in (2, 3, 4):
        case.record(
            provider(), f.Contact(occurred_on=date(2024, month, 5), minutes=60, kind="direct"), cat
        )
        case.record(
            provider(),
            f.Contact(occurred_on=date(2024, month, 6), minutes=30, kind="indirect"),
            cat,
        )
    cid = str(case.id)
    before = derive(cid, case.state, case.entries, cat, case.version)
    # when a direct contact dated in March is recorded
    case.record(
        provider(), f.Contact(occurred_on=date(2024, 3, 20), minutes=120, kind="direct"), cat
    )
    after = derive(cid, case.state, case.entries, cat, case.version, before)
    assert after.from_previous
    # then February is kept as it was, March is refolded (more indirect allowance, R-11)
    assert after.fold.folds["2024-02"] is before.fold.folds["2024-02"]
    assert after.fold.folds["2024-03"] is not before.fold.folds["2024-03"]
    assert after.months["2024-03"].minutes.direct == 180
    # and the result equals the full derivation and the functions it replaces
    full = derive(cid, case.state, case.entries, cat, case.version)
    assert document(after) == document(full)
    assert _encode(after.months) == _encode(consumption(case.state, case.entries, cat))
    assert _encode(after.summary) == _encode(
        summarise(cid, case.state, case.entries, cat, case.version)
    )
    assert _encode(after.entitlements) == _encode(entitlements(case.state, case.entries, cat))
    assert _encode(after.signals) == _encode(signals(case.state, case.entries, cat))
    assert after.items == items(after.summary)


def test_R17_a_contact_inserted_into_its_month_beyond_the_total_volume_refolds_the_month() -> None:
    # given a ZOU case with a total volume of 2 hours and two direct contacts in February
    # (60 min on the 5th, 50 min on the 20th): within the volume
    cat = catalogue("zou").with_example_tariffs()
    total = Volume(amount=Decimal(2), unit="hour", frequency="total")
    case = Case.open(municipality(), referral(on=START - timedelta(days=7)), cat)
    case.record(
        municipality(), indication("02A05", starts_on=START, ends_on=END, volume=total), cat
    )
    case.record(provider(), f.CareStart(started_on=START), cat)
    cid = str(case.id)
    d = derive(cid, case.state, case.entries, cat, case.version)
    for day, minutes in ((5, 60), (20, 50), (10, 30)):
        # when a contact is recorded in that month (the last one dated between the two)
        fact = f.Contact(occurred_on=date(2024, 2, day), minutes=minutes, kind="direct")
        case.record(provider(), fact, cat)
        d = derive(cid, case.state, case.entries, cat, case.version, d)
        assert d.from_previous
        assert document(d) == document(derive(cid, case.state, case.entries, cat, case.version))
    # then R-17 cuts in date order: the contact of the 20th, not the one recorded last
    cut = [
        (x.occurred_on.day, x.rule, x.beyond_volume_minutes) for x in d.months["2024-02"].decisions
    ]
    assert cut == [(5, "R-10", 0), (10, "R-10", 0), (20, "R-17", 20)]
    assert d.months["2024-02"].declarable_minutes == 120
    assert d.months["2024-02"].amount_due == "180.00"  # 2 h x 90.00 (example tariff)
    # and in March, the volume used up before the month, none of the month is declarable,
    # whatever the order the contacts come in
    for day, minutes in ((10, 30), (5, 20), (12, 15)):
        fact = f.Contact(occurred_on=date(2024, 3, day), minutes=minutes, kind="direct")
        case.record(provider(), fact, cat)
        d = derive(cid, case.state, case.entries, cat, case.version, d)
        assert document(d) == document(derive(cid, case.state, case.entries, cat, case.version))
    march = d.months["2024-03"]
    assert [(x.occurred_on.day, x.rule, x.beyond_volume_minutes) for x in march.decisions] == [
        (5, "R-17", 20), (10, "R-17", 30), (12, "R-17", 15)
    ]  # fmt: skip
    assert (march.declarable_minutes, march.non_declarable_minutes) == (0, 65)


@pytest.mark.parametrize("fact", ["extension", "retraction"])
def test_a_fact_that_changes_assignments_or_retracts_is_derived_in_full(fact: str) -> None:
    cat = catalogue("zou")
    case = Case.open(municipality(), referral(on=START - timedelta(days=7)), cat)
    case.record(municipality(), indication("02A05", starts_on=START, ends_on=END), cat)
    case.record(provider(), f.CareStart(started_on=START), cat)
    case.record(provider(), f.Contact(occurred_on=date(2024, 2, 5), minutes=60, kind="direct"), cat)
    cid = str(case.id)
    before = derive(cid, case.state, case.entries, cat, case.version)
    if fact == "extension":
        ext = f.Extension(assignment_number="TW-0001", ends_on=date(2025, 6, 30), decided_on=END)
        case.record(municipality(), ext, cat)
    else:
        case.retract(provider(), f.Retraction(event_version=4, reason="dubbel"), cat)
    after = derive(cid, case.state, case.entries, cat, case.version, before)
    assert not after.from_previous
    assert document(after) == document(derive(cid, case.state, case.entries, cat, case.version))
