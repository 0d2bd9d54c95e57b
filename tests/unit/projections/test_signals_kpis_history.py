"""Signals, KPI aggregation and the audit history of fixed histories."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain import facts as f
from domain.case import Case
from projections.history import history, replay
from projections.kpis import aggregate, summarise
from projections.signals import signals
from tests.builders import (
    active_case,
    catalogue,
    contact,
    indication,
    municipality,
    no_show,
    provider,
    referral,
)

ZOU = catalogue("zou")


def sigs(case: Case, rule: str):
    return [s for s in signals(case.state, case.entries, ZOU) if s.rule == rule]


def test_second_consecutive_no_show_raises_R14_signal_and_a_contact_closes_it() -> None:
    case = active_case()
    case.record(provider(), no_show(date(2024, 2, 1)), ZOU)
    assert sigs(case, "R-14") == []
    case.record(provider(), no_show(date(2024, 2, 8)), ZOU)
    (second,) = sigs(case, "R-14")
    assert second.raised_on == date(2024, 2, 8)
    assert "report back to the local team" in second.detail
    case.record(provider(), no_show(date(2024, 2, 15)), ZOU)
    assert len(sigs(case, "R-14")) == 2
    case.record(provider(), contact(on=date(2024, 2, 22)), ZOU)
    assert all(s.closed_on == date(2024, 2, 22) for s in sigs(case, "R-14"))


def test_no_intake_after_fourteen_days_raises_R15_until_the_intake() -> None:
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), ZOU)
    (s,) = sigs(case, "R-15")
    assert s.raised_on == date(2024, 1, 22)
    assert s.closed_on is None
    assert s.open_on(date(2024, 1, 22))
    assert not s.open_on(date(2024, 1, 21))
    case.record(provider(), f.Intake(held_on=date(2024, 1, 30)), ZOU)
    (s,) = sigs(case, "R-15")
    assert s.closed_on == date(2024, 1, 30)


def test_an_intake_in_time_raises_no_R15() -> None:
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), ZOU)
    case.record(provider(), f.Intake(held_on=date(2024, 1, 22)), ZOU)
    assert sigs(case, "R-15") == []


def test_no_decision_after_56_days_raises_R29() -> None:
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), ZOU)
    case.record(
        municipality(), indication(starts_on=date(2024, 3, 15), decided_on=date(2024, 3, 15)), ZOU
    )
    (s,) = sigs(case, "R-29")
    assert (s.raised_on, s.closed_on) == (date(2024, 3, 4), date(2024, 3, 15))


def test_monthly_use_double_the_weekly_volume_raises_R18() -> None:
    case = active_case()  # 4 h/week
    for day in range(1, 29):  # 56 h in February against 4 h/week
        case.record(provider(), contact(on=date(2024, 2, day), minutes=120), ZOU)
    doubled = [s for s in sigs(case, "R-18") if "double" in s.detail]
    assert len(doubled) == 1
    assert doubled[0].raised_on.month == 2


def test_02A04_interim_evaluation_due_at_six_months() -> None:
    case = active_case(product="02A04")
    (due,) = [s for s in sigs(case, "C-05") if "interim" in s.detail]
    assert due.raised_on == date(2024, 7, 15)


def kpi_case(referred: date, ended: date | None, reason: str = "19", client: str = "c-1") -> object:
    case = Case.open(municipality(), referral(on=referred, client_ref=client), ZOU)
    case.record(provider(), f.Intake(held_on=referred + timedelta(days=5)), ZOU)
    start = referred + timedelta(days=20)
    case.record(
        municipality(), indication(starts_on=start, ends_on=start + timedelta(days=300)), ZOU
    )
    case.record(provider(), f.CareStart(started_on=start), ZOU)
    if ended:
        case.record(provider(), f.End(ended_on=ended, reason=reason), ZOU)  # type: ignore[arg-type]
    return summarise(str(case.id), case.state, case.entries, ZOU, case.version)


def test_kpis_count_outflow_success_and_lasting_R27_R31() -> None:
    summaries = [
        kpi_case(date(2024, 1, 1), date(2024, 5, 1), "19", "a"),
        kpi_case(date(2024, 1, 1), date(2024, 6, 1), "21", "b"),
        kpi_case(date(2024, 8, 1), None, client="a"),  # client a returns within 12 months
        kpi_case(date(2024, 2, 1), None, client="c"),
    ]
    k = aggregate(summaries, date(2024, 1, 1), date(2024, 12, 31))  # type: ignore[arg-type]
    assert k.cases == 4
    assert (k.uitstroom.count, k.uitstroom.successful) == (2, 1)
    assert k.uitstroom.rate_successful == 0.5
    assert k.uitstroom.by_reason == {"19": 1, "21": 1}
    assert k.uitstroom.lasting == 1  # a came back; b did not
    assert k.doorlooptijd.referral_to_intake_days.median == 5
    assert k.doorlooptijd.referral_to_indication_days.n == 4
    assert k.doorlooptijd.indication_within_56_days_share == 1.0


def test_kpis_count_a_scale_down_R25() -> None:
    case = active_case()
    case.record(
        municipality(),
        f.ScaleChange(
            effective_on=date(2024, 4, 1),
            product="02A05",
            volume=indication().volume.__class__(
                amount=indication().volume.amount - 2, unit="hour", frequency="week"
            ),
            reason="afschalen",
        ),
        ZOU,
    )
    s = summarise(str(case.id), case.state, case.entries, ZOU, case.version)
    k = aggregate([s], date(2024, 1, 1), date(2024, 12, 31))
    assert (k.afschaling.count, k.opschaling.count) == (1, 0)


def test_history_links_a_correction_to_what_it_corrects() -> None:
    case = active_case()
    case.record(provider(), contact(minutes=60), ZOU)
    v = case.version
    case.correct(
        provider(),
        f.Correction(event_version=v, replacement=contact(minutes=90), reason="typo"),
        ZOU,
    )
    events = case.collect_events()
    records = history(events)
    assert records[v - 1].corrected_by == [v + 1]
    assert records[v].corrects == v
    assert records[v].type == "EventCorrected"


def test_replay_shows_each_step_with_its_state_and_decisions() -> None:
    case = active_case()
    case.record(provider(), contact(minutes=60, channel="digital"), ZOU)
    steps = replay(case.collect_events(), ZOU)
    assert [s.state.status for s in steps] == ["referred", "indicated", "active", "active"]
    assert steps[-1].decisions[0].rule == "R-16"
    assert "R-20" in steps[2].rules_checked
    assert [s.rule for s in steps[0].signals_opened] == ["R-15", "R-29"]  # due dates ahead


@given(st.lists(st.integers(min_value=-400, max_value=4000), max_size=300))
def test_spread_from_counted_values_equals_the_listed_values_property(values: list[int]) -> None:
    import math
    import statistics
    from collections import Counter

    from projections.kpis import _mean, _spread

    spread = _spread(Counter(values))
    assert spread.n == len(values)
    if not values:
        assert spread.median is None
        assert spread.p90 is None
        return
    ordered = sorted(values)
    assert spread.median == float(statistics.median(ordered))
    assert spread.p90 == float(ordered[math.ceil(0.9 * len(ordered)) - 1])
    assert _mean(Counter(values)) == statistics.mean(values)
