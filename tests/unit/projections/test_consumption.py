"""Consumption of fixed histories: the numbers of DOMAIN.md, one rule per test."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain import facts as f
from domain.case import Case
from projections.consumption import consumption
from tests.builders import (
    active_case,
    at,
    catalogue,
    contact,
    hours,
    indication,
    municipality,
    no_show,
    pieces,
    provider,
    referral,
    zou_case,
)

ZOU = catalogue("zou")
SDD = catalogue("drechtsteden")
FEB = "2024-02"


def months(case: Case, cat=ZOU):
    return consumption(case.state, case.entries, cat)


def decision(case: Case, version: int, cat=ZOU):
    for m in months(case, cat).values():
        for d in m.decisions:
            if d.event_version == version:
                return d
    raise AssertionError(f"no decision for version {version}")


def test_direct_time_is_declarable_R10() -> None:
    case = active_case()
    case.record(provider(), contact(minutes=75), ZOU)
    d = decision(case, case.version)
    assert (d.rule, d.declarable_minutes) == ("R-10", 75)
    assert months(case)[FEB].declarable_minutes == 75


def test_group_time_is_the_clients_share_R12() -> None:
    # given the example of R-12: 2 professionals x 60 min / 10 clients
    case = active_case()
    case.record(provider(), contact(kind="group", professionals=2, participants=10), ZOU)
    # then this client's share is 12 minutes
    d = decision(case, case.version)
    assert (d.rule, d.declarable_minutes) == ("R-12", 12)
    assert months(case)[FEB].minutes.group == 12


def test_digital_time_above_a_fifth_of_direct_time_is_not_declarable_R16() -> None:
    # given 4 h/week for the four weeks of February 2024 (R-16 example: direct 3.2 h,
    # digital at most 0.64 h = 38.4 min a week): 38.4 x 4 weeks = 153.6, so 154 minutes
    case = zou_case(starts_on=date(2024, 2, 1), ends_on=date(2024, 2, 28))
    for week in range(4):
        case.record(
            provider(),
            contact(on=date(2024, 2, 1) + timedelta(weeks=week), minutes=60, channel="digital"),
            ZOU,
        )
    feb = months(case)[FEB]
    assert feb.declarable_minutes == 154
    assert feb.non_declarable_minutes == 240 - 154
    assert feb.minutes.digital == 240
    assert [d.rule for d in feb.decisions] == ["R-16"] * 4
    assert [d.declarable_minutes for d in feb.decisions] == [60, 60, 34, 0]


def test_indirect_time_above_a_fifth_of_client_time_over_the_trajectory_R11() -> None:
    case = active_case()
    case.record(provider(), contact(on=date(2024, 2, 1), minutes=400), ZOU)
    case.record(provider(), contact(on=date(2024, 2, 2), minutes=120, kind="indirect"), ZOU)
    # allowance = 20/80 x 400 = 100 minutes of indirect time
    d = decision(case, case.version)
    assert (d.rule, d.declarable_minutes) == ("R-11", 100)
    # more direct time in March raises the cumulative allowance for March's indirect time
    case.record(provider(), contact(on=date(2024, 3, 1), minutes=400), ZOU)
    case.record(provider(), contact(on=date(2024, 3, 2), minutes=120, kind="indirect"), ZOU)
    d = decision(case, case.version)
    assert (d.rule, d.declarable_minutes) == ("R-11", 100)  # 200 allowed in all, 100 used


def test_a_timely_cancellation_is_not_a_no_show_R13() -> None:
    case = active_case()
    day = date(2024, 2, 6)
    case.record(
        provider(),
        f.NoShow(scheduled_at=at(day), cancelled_at=at(day) - timedelta(hours=24)),
        ZOU,
    )
    late = at(day + timedelta(days=1), hour=8)  # two hours ahead
    case.record(
        provider(),
        f.NoShow(scheduled_at=at(day + timedelta(days=1)), cancelled_at=late, planned_minutes=60),
        ZOU,
    )
    feb = months(case)[FEB]
    assert (feb.no_shows.count, feb.no_shows.cancelled_in_time) == (1, 1)


def test_02A05_declares_at_most_six_no_shows_per_allocation_R13() -> None:
    case = active_case(product="02A05")
    for i in range(8):
        case.record(
            provider(),
            f.NoShow(scheduled_at=at(date(2024, 2, 1) + timedelta(days=i)), planned_minutes=60),
            ZOU,
        )
    feb = months(case)[FEB]
    assert (feb.no_shows.count, feb.no_shows.declarable) == (8, 6)
    assert feb.declarable_minutes == 360
    assert feb.non_declarable_minutes == 120


def test_02A03_never_and_02A04_always_declare_no_shows_R13() -> None:
    for product, declarable in (("02A03", 0), ("02A04", 8)):
        case = active_case(product=product)
        for i in range(8):
            case.record(provider(), no_show(date(2024, 2, 1) + timedelta(days=i)), ZOU)
        assert months(case)[FEB].no_shows.declarable == declarable, product


def test_time_after_a_withdrawn_assignment_has_no_assignment_R20() -> None:
    # given the indication withdrawn by a scale change to 1 h/week from March
    case = active_case()
    case.record(
        municipality(),
        f.ScaleChange(
            effective_on=date(2024, 3, 1), product="02A05", volume=hours(1), reason="afschalen"
        ),
        ZOU,
    )
    case.record(provider(), contact(on=date(2024, 3, 5), minutes=60), ZOU)
    d = decision(case, case.version)
    assert d.rule == "R-10"  # still within the new assignment
    # a retroactive end leaves later time outside every assignment
    case.record(municipality(), f.End(ended_on=date(2024, 3, 10), reason="19"), ZOU)
    assert months(case)["2024-03"].declarable_minutes == 60


def test_2016_prices_per_four_week_period_with_surcharge_R03_R01_R02() -> None:
    # given an IB2 case with surcharge, care from 2016-02-01
    case = Case.open(
        municipality("drechtsteden"), referral("drechtsteden", on=date(2016, 1, 10)), SDD
    )
    case.record(
        municipality("drechtsteden"),
        indication(
            "IB2",
            starts_on=date(2016, 2, 1),
            ends_on=date(2016, 12, 31),
            volume=pieces(1, "four_weeks"),
            surcharge=True,
            decided_on=date(2016, 1, 20),
        ),
        SDD,
    )
    case.record(provider("drechtsteden"), f.CareStart(started_on=date(2016, 2, 1)), SDD)
    case.record(provider("drechtsteden"), f.End(ended_on=date(2016, 4, 30), reason="19"), SDD)
    m = months(case, SDD)
    # periods start 02-01, 02-29, 03-28, 04-25: four periods of 732.16 + 239.50
    assert m["2016-02"].periods_billed == "2"
    assert m["2016-02"].amount_due == str(2 * (Decimal("732.16") + Decimal("239.50")))
    assert m["2016-03"].amount_due == "971.66"
    assert m["2016-04"].amount_due == "971.66"
    assert m["2016-02"].price_source == "catalogue"


def test_result_financing_time_is_recorded_not_declared_R26() -> None:
    case = Case.open(municipality("drechtsteden"), referral("drechtsteden"), SDD)
    case.record(municipality("drechtsteden"), indication("IB1"), SDD)
    case.record(provider("drechtsteden"), f.CareStart(started_on=date(2024, 1, 20)), SDD)
    case.record(provider("drechtsteden"), contact(minutes=60), SDD)
    d = decision(case, case.version, SDD)
    assert (d.rule, d.declarable_minutes) == ("R-26", 0)
    # no price for 2024 in the seeds: the amount is unknown, not zero
    assert months(case, SDD)[FEB].amount_due is None


def test_a_retracted_contact_no_longer_counts() -> None:
    case = active_case()
    case.record(provider(), contact(minutes=75), ZOU)
    case.retract(provider(), f.Retraction(event_version=case.version, reason="dubbel"), ZOU)
    assert months(case) == {}
