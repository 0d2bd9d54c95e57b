"""Issue 13 items 2-4 and 6: the total volume (R-17), the digital allowance over the
indication (R-16), the 02A05 allocation period (R-13) and the 2021 settlement switch (R-02)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import msgspec

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue, Price
from projections.consumption import consumption
from projections.entitlement import entitlements
from projections.signals import signals
from tests.builders import (
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


def months(case: Case, cat: Catalogue = ZOU):
    return consumption(case.state, case.entries, cat)


# --- R-17 total volume ----------------------------------------------------------------


def test_hours_beyond_the_total_volume_are_not_declarable_R17() -> None:
    # given 10 hours in total over February..March
    case = zou_case(
        starts_on=date(2024, 2, 1), ends_on=date(2024, 3, 31), volume=hours(10, "total")
    )
    for day in (1, 8, 15):
        case.record(provider(), contact(on=date(2024, 2, day), minutes=240), ZOU)
    m = months(case)["2024-02"]
    # then 600 of the 720 minutes are declarable; the last contact is cut by R-17
    assert m.declarable_minutes == 600
    assert m.non_declarable_minutes == 120
    last = m.decisions[-1]
    assert (last.rule, last.declarable_minutes) == ("R-17", 120)
    # the entitlement never goes below zero and shows the overrun
    (view,) = entitlements(case.state, case.entries, ZOU)
    assert (view.hours_granted, view.hours_used) == ("10.00", "10.00")
    assert view.hours_remaining == "0.00"
    assert view.hours_beyond_volume == "2.00"


def test_the_R18_signals_keep_working_within_the_total_volume_R17_R18() -> None:
    case = zou_case(
        starts_on=date(2024, 2, 1), ends_on=date(2024, 3, 31), volume=hours(10, "total")
    )
    for day in (1, 8, 15):
        case.record(provider(), contact(on=date(2024, 2, day), minutes=240), ZOU)
    details = [s.detail for s in signals(case.state, case.entries, ZOU) if s.rule == "R-18"]
    assert any("80% of 10.0 h used" in d for d in details)
    assert any(d.startswith("use in 2024-02") for d in details)


# --- R-16 digital allowance over the indication -------------------------------------


def test_front_loaded_digital_time_is_declarable_within_the_indications_cap_R16() -> None:
    # given 4 h/week for 2024-01-15..2024-12-31: 352 days, digital cap
    # 20% x 80% x 240 min x 352 / 7 = 1931 minutes over the validity
    case = zou_case()
    for week in range(4):
        case.record(
            provider(),
            contact(on=date(2024, 2, 1) + timedelta(weeks=week), minutes=60, channel="digital"),
            ZOU,
        )
    feb = months(case)["2024-02"]
    # then all four digital hours in February are declarable (the cap is not per month)
    assert feb.declarable_minutes == 240
    assert [d.rule for d in feb.decisions] == ["R-16"] * 4


def test_the_digital_cap_is_a_running_total_over_the_validity_R16() -> None:
    # given 4 h/week for February and March 2024 (60 days): cap 0.16 x 240 x 60 / 7 = 329 min
    case = zou_case(starts_on=date(2024, 2, 1), ends_on=date(2024, 3, 31))
    for day in (1, 5, 12, 19, 26):
        case.record(provider(), contact(on=date(2024, 2, day), minutes=60, channel="digital"), ZOU)
    for day in (4, 11):
        case.record(provider(), contact(on=date(2024, 3, day), minutes=60, channel="digital"), ZOU)
    m = months(case)
    assert m["2024-02"].declarable_minutes == 300  # front-loaded, within the running total
    assert [d.declarable_minutes for d in m["2024-03"].decisions] == [29, 0]


def test_the_digital_cap_holds_for_02A03_and_02A04_too_R16() -> None:
    for product in ("02A03", "02A04"):
        case = zou_case(product, starts_on=date(2024, 2, 1), ends_on=date(2024, 3, 31))
        for day in (1, 5, 12, 19, 26, 27, 28):
            case.record(
                provider(), contact(on=date(2024, 2, day), minutes=60, channel="digital"), ZOU
            )
        assert months(case)["2024-02"].declarable_minutes == 329, product


# --- R-13 02A05 allocation period ------------------------------------------------------


def test_02A05_no_shows_are_capped_per_allocation_validity_not_calendar_months_R13() -> None:
    # given one 02A05 allocation 2024-03-15..2025-03-14 (12 months)
    case = zou_case(starts_on=date(2024, 3, 15), ends_on=date(2025, 3, 14))
    for i in range(6):
        case.record(provider(), no_show(date(2024, 4, 1) + timedelta(weeks=i)), ZOU)
    # two more in March 2025: still the same allocation, so above the cap of 6
    case.record(provider(), no_show(date(2025, 3, 3)), ZOU)
    case.record(provider(), no_show(date(2025, 3, 10)), ZOU)
    march = months(case)["2025-03"]
    assert (march.no_shows.count, march.no_shows.declarable) == (2, 0)
    assert {d.rule for d in march.decisions} == {"R-13"}


def test_02A05_extension_opens_a_new_allocation_period_for_no_shows_R13() -> None:
    case = zou_case(starts_on=date(2024, 1, 15), ends_on=date(2024, 6, 30))
    for i in range(6):
        case.record(provider(), no_show(date(2024, 2, 1) + timedelta(weeks=i)), ZOU)
    case.record(
        municipality(),
        f.Extension(
            assignment_number="TW-0001", ends_on=date(2024, 12, 31), decided_on=date(2024, 6, 1)
        ),
        ZOU,
    )
    case.record(provider(), no_show(date(2024, 7, 8)), ZOU)
    assert months(case)["2024-07"].no_shows.declarable == 1


# --- R-02 the 2021 settlement switch ---------------------------------------------------


def priced(cat: Catalogue, code: str, *prices: Price) -> Catalogue:
    products = [
        msgspec.structs.replace(p, prices=[*p.prices, *prices]) if p.code == code else p
        for p in cat.products
    ]
    return msgspec.structs.replace(cat, products=products)


SDD_PRICED = priced(
    SDD,
    "IB2",
    Price(
        valid_from=date(2020, 1, 1),
        valid_until=date(2020, 12, 31),
        amount=Decimal("700"),
        per="four_weeks",
        settled="four_weeks",
        source="test",
    ),
    Price(
        valid_from=date(2021, 1, 1),
        amount=Decimal("200"),
        per="week",
        settled="month",
        source="test",
    ),
)


def sdd_case(cat: Catalogue, product: str, starts: date, ends: date, care_end: date) -> Case:
    actor = municipality("drechtsteden")
    case = Case.open(actor, referral("drechtsteden", on=starts - timedelta(days=20)), cat)
    case.record(actor, indication(product, starts_on=starts, ends_on=ends, volume=pieces()), cat)
    case.record(provider("drechtsteden"), f.CareStart(started_on=starts), cat)
    case.record(provider("drechtsteden"), f.End(ended_on=care_end, reason="19"), cat)
    return case


def test_care_across_2021_is_settled_per_week_per_month_from_2021_R02() -> None:
    # given IB2 care 2020-11-02..2021-02-28 (started under the 2016 four-week rules)
    case = sdd_case(SDD_PRICED, "IB2", date(2020, 11, 2), date(2021, 6, 30), date(2021, 2, 28))
    m = months(case, SDD_PRICED)
    # four-week periods from 2020-11-02 and 2020-11-30; the one from 2020-12-28 is cut on
    # 2020-12-31 (4 of 28 days); from 2021-01-01 weeks, settled per calendar month
    assert m["2020-11"].periods_billed == "2"
    assert m["2020-12"].periods_billed == "0.14"
    assert m["2020-12"].amount_due == "100.00"  # 700 x 4 / 28
    assert m["2021-01"].periods_billed == "4.43"  # 31 days = 4.43 weeks
    assert m["2021-01"].amount_due == "885.71"  # 200 x 31 / 7
    assert m["2021-02"].amount_due == "800.00"


def test_without_a_catalogue_price_amounts_stay_unknown_R02() -> None:
    case = sdd_case(SDD, "IB2", date(2020, 11, 2), date(2021, 6, 30), date(2021, 2, 28))
    m = months(case, SDD)
    assert m["2021-01"].periods_billed == "4.43"
    assert m["2021-01"].amount_due is None


def test_ib_mo_is_settled_per_calendar_month_R02_R08() -> None:
    mo = priced(
        SDD,
        "IB2-MO",
        Price(
            valid_from=date(2021, 1, 1),
            amount=Decimal("900"),
            per="month",
            settled="month",
            source="test",
        ),
    )
    case = sdd_case(mo, "IB2-MO", date(2021, 3, 1), date(2021, 12, 31), date(2021, 5, 15))
    m = months(case, mo)
    assert (m["2021-03"].periods_billed, m["2021-03"].amount_due) == ("1", "900.00")
    assert m["2021-04"].amount_due == "900.00"
    # half a month of care in May: 15 of 31 days
    assert (m["2021-05"].periods_billed, m["2021-05"].amount_due) == ("0.48", "435.48")
