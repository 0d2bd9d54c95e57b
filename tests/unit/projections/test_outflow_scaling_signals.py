"""Issue 13 items 5, 7 and 8: afschaling by function level and by re-indication (R-25,
R-26), lasting outflow with its window and transfers (R-31), and signals scoped by the
tenant's catalogue (R-14, R-15, R-29, C-05)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import RuleViolation
from projections.kpis import CaseSummary, aggregate, summarise
from projections.signals import signals
from tests.builders import (
    catalogue,
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
YEAR_2024 = (date(2024, 1, 1), date(2024, 12, 31))


def summary(case: Case, cat: Catalogue = ZOU) -> CaseSummary:
    return summarise(str(case.id), case.state, case.entries, cat, case.version)


def rules_of(case: Case, cat: Catalogue) -> list[str]:
    return [s.rule for s in signals(case.state, case.entries, cat)]


# --- afschaling and opschaling --------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "direction"),
    [("02A05", "02A03", "down"), ("02A04", "02A03", "down"), ("02A03", "02A05", "up")],
)
def test_a_zou_product_change_counts_by_function_level_R25(
    old: str, new: str, direction: str
) -> None:
    # given a ZOU product change at the same hours: only the function level differs
    case = zou_case(old, starts_on=date(2024, 1, 15), ends_on=date(2024, 10, 31))
    case.record(
        municipality(),
        f.ScaleChange(effective_on=date(2024, 4, 1), product=new, volume=hours(4)),
        ZOU,
    )
    k = aggregate([summary(case)], *YEAR_2024)
    counts = (k.afschaling.count, k.opschaling.count)
    assert counts == ((1, 0) if direction == "down" else (0, 1))


def sdd_reindicated(first: str, second: str) -> Case:
    gm = municipality("drechtsteden")
    case = Case.open(gm, referral("drechtsteden", on=date(2022, 1, 3)), SDD)
    case.record(
        gm,
        indication(first, starts_on=date(2022, 1, 10), ends_on=date(2022, 6, 30), volume=pieces()),
        SDD,
    )
    case.record(provider("drechtsteden"), f.CareStart(started_on=date(2022, 1, 10)), SDD)
    case.record(
        gm,
        indication(
            second,
            starts_on=date(2022, 7, 1),
            ends_on=date(2022, 12, 31),
            volume=pieces(),
            number="TW-0002",
            decided_on=date(2022, 6, 20),
        ),
        SDD,
    )
    return case


def test_a_re_indication_to_a_lower_category_at_the_end_is_afschaling_R26() -> None:
    # given IB1 followed by IB0 by a new indication from the day after the first ends
    case = sdd_reindicated("IB1", "IB0")
    k = aggregate([summary(case, SDD)], date(2022, 1, 1), date(2022, 12, 31))
    assert (k.afschaling.count, k.opschaling.count) == (1, 0)


def test_a_re_indication_in_the_same_category_is_no_scale_change_R26() -> None:
    case = sdd_reindicated("IB1", "IB1")
    k = aggregate([summary(case, SDD)], date(2022, 1, 1), date(2022, 12, 31))
    assert (k.afschaling.count, k.opschaling.count) == (0, 0)


# --- R-31 lasting outflow ---------------------------------------------------------------


def ended_case(
    client: str, referred: date, ended: date, reason: str = "19", cat: Catalogue = ZOU
) -> CaseSummary:
    case = Case.open(municipality(), referral(on=referred, client_ref=client), cat)
    start = referred + timedelta(days=10)
    case.record(
        municipality(), indication(starts_on=start, ends_on=start + timedelta(days=300)), cat
    )
    case.record(provider(), f.CareStart(started_on=start), cat)
    case.record(provider(), f.End(ended_on=ended, reason=reason), cat)  # type: ignore[arg-type]
    return summary(case)


def open_case(client: str, referred: date) -> CaseSummary:
    return summary(Case.open(municipality(), referral(on=referred, client_ref=client), ZOU))


AS_OF = datetime(2024, 12, 31, 12, tzinfo=UTC)


def test_an_end_whose_window_has_not_passed_is_pending_not_lasting_R31() -> None:
    # given an end on 2024-03-31, looked at on 2024-12-31: its 12-month window is still open
    s = ended_case("a", date(2024, 1, 1), date(2024, 3, 31))
    k = aggregate([s], *YEAR_2024, as_of=AS_OF)
    assert (k.uitstroom.lasting, k.uitstroom.lasting_pending) == (0, 1)
    assert k.uitstroom.rate_lasting is None  # no end's window has passed
    # a year later it is lasting
    later = datetime(2025, 4, 1, tzinfo=UTC)
    k = aggregate([s], *YEAR_2024, as_of=later)
    assert (k.uitstroom.lasting, k.uitstroom.lasting_pending, k.uitstroom.rate_lasting) == (
        1,
        0,
        1.0,
    )


def test_the_lasting_rate_counts_only_ends_whose_window_has_passed_R31() -> None:
    old_end = ended_case("a", date(2022, 1, 1), date(2022, 6, 30))
    returned = ended_case("b", date(2022, 1, 1), date(2022, 6, 30))
    comeback = open_case("b", date(2023, 2, 1))
    recent = ended_case("c", date(2024, 1, 1), date(2024, 6, 30))
    k = aggregate(
        [old_end, returned, comeback, recent], date(2022, 1, 1), date(2024, 12, 31), as_of=AS_OF
    )
    assert k.uitstroom.count == 3
    assert (k.uitstroom.lasting, k.uitstroom.lasting_pending) == (1, 1)
    assert k.uitstroom.rate_lasting == 0.5  # 1 lasting of the 2 ends whose window passed


def test_a_transfer_is_not_lasting_outflow_R31() -> None:
    # reason 38 (andere aanbieder), and a new case referred before the old one ended
    by_reason = ended_case("a", date(2022, 1, 1), date(2022, 6, 30), reason="38")
    moved = ended_case("b", date(2022, 1, 1), date(2022, 6, 30), reason="23")
    successor = open_case("b", date(2022, 6, 15))
    k = aggregate([by_reason, moved, successor], date(2022, 1, 1), date(2022, 12, 31), as_of=AS_OF)
    assert k.uitstroom.count == 2
    assert (k.uitstroom.lasting, k.uitstroom.transfers) == (0, 2)


# --- signals scoped by the catalogue ------------------------------------------------------


def test_no_show_streak_and_intake_signals_only_where_the_catalogue_says_R14_R15() -> None:
    # given an SDD case (their contract names neither R-14 nor R-15): a late intake and a
    # streak of no-shows
    gm, pr = municipality("drechtsteden"), provider("drechtsteden")
    case = Case.open(gm, referral("drechtsteden", on=date(2024, 1, 2)), SDD)
    case.record(pr, f.Intake(held_on=date(2024, 2, 1)), SDD)
    case.record(gm, indication("IB2", decided_on=date(2024, 1, 10)), SDD)
    case.record(pr, f.CareStart(started_on=date(2024, 1, 20)), SDD)
    for day in (1, 8, 15):
        case.record(pr, no_show(date(2024, 2, day), planned_minutes=None), SDD)
    assert "R-14" not in rules_of(case, SDD)
    assert "R-15" not in rules_of(case, SDD)
    # the same history under the ZOU catalogue raises both
    assert SDD.contract_signals == []
    assert {"R-14", "R-15"} <= set(rules_of(case, msgspec.structs.replace(
        SDD, contract_signals=["R-14", "R-15"]
    )))  # fmt: skip


def test_the_decision_norm_comes_from_the_catalogue_R29() -> None:
    # given a tenant whose norm is 42 days, a decision 50 days after the referral
    cat = msgspec.structs.replace(ZOU, decision_within_days=42)
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), cat)
    case.record(municipality(), indication(decided_on=date(2024, 2, 27)), cat)
    (r29,) = [s for s in signals(case.state, case.entries, cat) if s.rule == "R-29"]
    assert r29.raised_on == date(2024, 2, 19)
    k = aggregate([summary(case, cat)], *YEAR_2024, decision_within_days=42)
    assert k.doorlooptijd.indication_within_norm_share == 0.0
    assert k.doorlooptijd.decision_norm_days == 42


def test_02A04_runs_past_a_year_with_a_review_signal_not_a_refusal_C05() -> None:
    # "in principle" at most a year (DOMAIN 02A04): a signal, not a refusal
    case = zou_case("02A04", starts_on=date(2024, 1, 15), ends_on=date(2025, 6, 30))
    review = [s for s in signals(case.state, case.entries, ZOU) if "risk analysis" in s.detail]
    assert [s.raised_on for s in review] == [date(2025, 1, 15)]


def test_duration_signals_come_from_catalogue_data_C05() -> None:
    # given 02A05 configured with an interim evaluation at 3 months
    products = [
        msgspec.structs.replace(p, interim_evaluation_months=3) if p.code == "02A05" else p
        for p in ZOU.products
    ]
    cat = msgspec.structs.replace(ZOU, products=products)
    case = zou_case("02A05")
    due = [s for s in signals(case.state, case.entries, cat) if "interim" in s.detail]
    assert [s.raised_on for s in due] == [date(2024, 4, 15)]
    assert not [s for s in signals(case.state, case.entries, ZOU) if "interim" in s.detail]


def test_02A03_still_refuses_more_than_twelve_months_C05() -> None:
    with pytest.raises(RuleViolation, match="C-05"):
        zou_case("02A03", starts_on=date(2024, 1, 15), ends_on=date(2025, 6, 30))


# --- R-23 targeting, a signal on evaluations ---------------------------------------------


def sdd_goals_case(*domains: str) -> Case:
    gm, pr = municipality("drechtsteden"), provider("drechtsteden")
    case = Case.open(gm, referral("drechtsteden", on=date(2024, 1, 2)), SDD)
    goals = [f.Goal(domain=d, result="verbeteren") for d in domains] if domains else []
    case.record(gm, indication("IB2", decided_on=date(2024, 1, 10), goals=goals), SDD)
    case.record(pr, f.CareStart(started_on=date(2024, 1, 20)), SDD)
    return case


def r23(case: Case, cat: Catalogue = SDD):
    return [s for s in signals(case.state, case.entries, cat) if s.rule == "R-23"]


def test_ib_working_on_a_domain_outside_its_target_scores_raises_R23() -> None:
    # given IB2 with goals on finances, housing and justice
    case = sdd_goals_case("financien", "huisvesting", "justitie")
    pr = provider("drechtsteden")
    # an evaluation: finances acute (1: not one of the named domains), housing self-reliant
    # (4: IB works on 2-3), justice scored without a link to mental health or addiction
    zrm = {"financien": 1, "huisvesting": 4, "justitie": 2}
    case.record(pr, f.Evaluation(evaluated_on=date(2024, 4, 1), kind="periodic", zrm=zrm), SDD)
    (s,) = r23(case)
    assert s.raised_on == date(2024, 4, 1)
    for domain in ("financien scored 1", "huisvesting scored 4", "justitie without"):
        assert domain in s.detail
    # a later evaluation within the targets closes it
    zrm = {"financien": 2, "huisvesting": 3, "justitie": 2, "middelengebruik": 3}
    case.record(pr, f.Evaluation(evaluated_on=date(2024, 7, 1), kind="periodic", zrm=zrm), SDD)
    (s,) = r23(case)
    assert s.closed_on == date(2024, 7, 1)


def test_acute_scores_in_the_named_domains_are_within_targeting_R23() -> None:
    case = sdd_goals_case("tijdsbesteding", "geestelijke_gezondheid")
    zrm = {"tijdsbesteding": 1, "geestelijke_gezondheid": 1}
    case.record(
        provider("drechtsteden"),
        f.Evaluation(evaluated_on=date(2024, 4, 1), kind="periodic", zrm=zrm),
        SDD,
    )
    assert r23(case) == []


def test_R23_targeting_only_where_the_catalogue_defines_it_R23() -> None:
    case = sdd_goals_case("huisvesting")
    case.record(
        provider("drechtsteden"),
        f.Evaluation(evaluated_on=date(2024, 4, 1), kind="periodic", zrm={"huisvesting": 5}),
        SDD,
    )
    assert len(r23(case)) == 1
    assert r23(case, msgspec.structs.replace(SDD, targeting=None)) == []
