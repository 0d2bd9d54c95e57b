"""Declaration lines from the consumption projection: one per case per assignment per month."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import facts as f
from domain.case import Case
from projections.consumption import consumption
from projections.declarations import declaration_lines, declared_volume
from tests.builders import (
    active_case,
    catalogue,
    contact,
    hours,
    indication,
    municipality,
    pieces,
    provider,
    referral,
)

ZOU = catalogue("zou")
SDD = catalogue("drechtsteden")
#: ZOU's catalogue with the invented demo tariffs (it names no hourly rates itself)
ZOU_EXAMPLES = ZOU.with_example_tariffs()


def lines(case: Case, cat=ZOU):
    return declaration_lines("c1", case.state, case.entries, cat)


def test_hourly_line_volume_is_hours_rounded_on_the_period_total_at_least_one_IV079() -> None:
    assert declared_volume(89, "hour") == 1
    assert declared_volume(90, "hour") == 2  # half up
    assert declared_volume(10, "hour") == 1  # minimum 1 when anything was delivered
    assert declared_volume(0, "hour") == 0
    assert declared_volume(75, "minute") == 75


def test_month_line_carries_declarable_minutes_rate_and_amounts_R10() -> None:
    # given 02A05 at the example tariff of 90.00 an hour and 100 minutes in February
    case = active_case()
    case.record(provider(), contact(date(2024, 2, 1), minutes=60), ZOU)
    case.record(provider(), contact(date(2024, 2, 9), minutes=40), ZOU)
    # when the lines are built
    (line,) = [x for x in lines(case, ZOU_EXAMPLES) if x.month == "2024-02"]
    # then one line for the assignment, hours rounded on the total (100 min -> 2 h)
    assert (line.assignment_number, line.iwmo_category, line.iwmo_code) == (
        "TW-0001",
        "02",
        "02A05",
    )
    assert (line.declarable_minutes, line.volume, line.unit) == (100, 2, "hour")
    assert (line.rate, line.amount_due, line.declared_amount) == ("90.00", "150.00", "180.00")
    assert (line.period_start, line.period_end) == (date(2024, 2, 1), date(2024, 2, 29))


def test_a_scale_change_splits_the_month_at_the_assignments_start_and_end_R30() -> None:
    # given an afschaling on 15 March: TW-0001 withdrawn on the 14th, a new assignment after
    case = active_case()
    case.record(provider(), contact(date(2024, 3, 5), minutes=60), ZOU)
    case.record(
        municipality(),
        f.ScaleChange(
            effective_on=date(2024, 3, 15),
            product="02A05",
            volume=hours(2),
            assignment_number="TW-0002",
            decided_on=date(2024, 3, 10),
        ),
        ZOU,
    )
    case.record(provider(), contact(date(2024, 3, 20), minutes=30), ZOU)
    # then March has one line per assignment, each cut at the assignment's validity
    march = [x for x in lines(case, ZOU_EXAMPLES) if x.month == "2024-03"]
    assert [
        (x.assignment_number, x.period_start, x.period_end, x.declarable_minutes) for x in march
    ] == [
        ("TW-0001", date(2024, 3, 1), date(2024, 3, 14), 60),
        ("TW-0002", date(2024, 3, 15), date(2024, 3, 31), 30),
    ]


def test_without_a_price_the_line_has_no_rate_and_no_amount() -> None:
    # ZOU's catalogue names no hourly rates (and example tariffs are off)
    case = active_case()
    case.record(provider(), contact(date(2024, 2, 1), minutes=60), ZOU)
    (line,) = lines(case)
    assert (line.rate, line.amount_due, line.declared_amount) == (None, None, None)
    assert line.declarable_minutes == 60


def test_2016_result_financing_declares_the_four_week_period_price_R02_R03() -> None:
    # given IB2 (732.16 per 4 weeks in 2016) with surcharge (239.50), care from 4 January
    case = Case.open(
        municipality("drechtsteden"), referral("drechtsteden", on=date(2015, 12, 1)), SDD
    )
    case.record(
        municipality("drechtsteden"),
        indication(
            "IB2", date(2016, 1, 4), date(2016, 12, 31), pieces(1, "four_weeks"), surcharge=True
        ),
        SDD,
    )
    case.record(provider("drechtsteden"), f.CareStart(started_on=date(2016, 1, 4)), SDD)
    case.record(provider("drechtsteden"), contact(date(2016, 3, 10), minutes=60), SDD)
    # then each month declares the periods that start in it at the period price
    by_month = {x.month: x for x in lines(case, SDD)}
    jan = by_month["2016-01"]
    assert (jan.financing, jan.volume, jan.rate, jan.unit) == (
        "result",
        1,
        "971.66",
        "piece_output",
    )
    assert jan.declared_amount == jan.amount_due == "971.66"
    assert jan.period_start == date(2016, 1, 4)
    months = consumption(case.state, case.entries, SDD)
    for key, m in months.items():
        assert by_month[key].amount_due == m.amount_due


@settings(max_examples=40, deadline=None)
@given(
    contacts=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=200),  # day offset from 20 January
            st.integers(min_value=1, max_value=240),
            st.sampled_from(["direct", "indirect", "group"]),
            st.sampled_from(["in_person", "digital"]),
        ),
        max_size=25,
    ),
    scale_day=st.one_of(st.none(), st.integers(min_value=20, max_value=150)),
)
def test_the_lines_of_a_month_sum_to_the_cases_consumption(
    contacts: list[tuple[int, int, str, str]], scale_day: int | None
) -> None:
    case = active_case()
    start = date(2024, 1, 20)
    if scale_day is not None:
        case.record(
            municipality(),
            f.ScaleChange(
                effective_on=start + timedelta(days=scale_day),
                product="02A05",
                volume=hours(2),
                assignment_number="TW-0002",
            ),
            ZOU,
        )
    for offset, minutes, kind, channel in contacts:
        extra = {"professionals": 1, "participants": 3} if kind == "group" else {}
        case.record(
            provider(),
            contact(
                start + timedelta(days=offset),
                minutes=minutes,
                kind=kind,
                channel=channel,
                **extra,
            ),
            ZOU,
        )
    months = consumption(case.state, case.entries, ZOU_EXAMPLES)
    all_lines = lines(case, ZOU_EXAMPLES)
    for key, m in months.items():
        mine = [x for x in all_lines if x.month == key]
        assert sum(x.declarable_minutes for x in mine) == m.declarable_minutes
        total = sum((Decimal(x.amount_due) for x in mine), Decimal("0.00"))
        assert abs(total - Decimal(m.amount_due)) <= Decimal("0.01") * len(mine)
        for x in mine:
            assert x.period_start.strftime("%Y-%m") == key
            assert x.volume == declared_volume(x.declarable_minutes, x.unit)
