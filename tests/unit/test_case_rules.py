"""Lifecycle rules of the case aggregate, one behaviour per test, rule id in the name."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from domain import facts as f
from domain.case import Case
from domain.errors import InvalidValue, RuleViolation
from domain.state import is_timely_cancellation
from tests.builders import (
    UTC,
    active_case,
    at,
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


def refused(rule: str):
    """Expect a refusal naming ``rule``."""
    return pytest.raises(RuleViolation, match=f"^{rule}:")


def referred_case(tenant: str = "zou", on: date = date(2024, 1, 8)) -> Case:
    return Case.open(municipality(tenant), referral(tenant, on=on), catalogue(tenant))


# --- no care before a decision ----------------------------------------------------


def test_start_of_care_before_any_indication_is_refused_R20() -> None:
    case = referred_case()
    with refused("R-20"):
        case.record(provider(), f.CareStart(started_on=date(2024, 2, 1)), ZOU)


def test_start_of_care_before_the_indication_starts_is_refused_R20() -> None:
    case = referred_case()
    case.record(municipality(), indication(starts_on=date(2024, 2, 1)), ZOU)
    with refused("R-20"):
        case.record(provider(), f.CareStart(started_on=date(2024, 1, 31)), ZOU)


def test_contact_before_any_indication_is_refused_R20() -> None:
    case = referred_case()
    with refused("R-20"):
        case.record(provider(), contact(), ZOU)


def test_retracting_the_indication_of_running_care_is_refused_R20() -> None:
    case = active_case()
    with refused("R-20"):
        case.retract(municipality(), f.Retraction(event_version=2, reason="wrong"), ZOU)


def test_care_starts_on_the_indication_start_date_R20() -> None:
    case = referred_case()
    case.record(municipality(), indication(starts_on=date(2024, 2, 1)), ZOU)
    case.record(provider(), f.CareStart(started_on=date(2024, 2, 1)), ZOU)
    assert case.state.status == "active"


# --- support plan and ZRM -------------------------------------------


def test_support_plan_without_indication_is_refused_R22() -> None:
    case = referred_case()
    with refused("R-22"):
        case.record(provider(), f.SupportPlan(agreed_on=date(2024, 1, 20)), ZOU)


def test_zrm_score_outside_one_to_five_is_refused_R23() -> None:
    case = active_case()
    for score in (0, 6):
        with pytest.raises(InvalidValue, match="^R-23:"):
            case.record(
                provider(),
                f.Evaluation(
                    evaluated_on=date(2024, 3, 1), kind="periodic", zrm={"financien": score}
                ),
                ZOU,
            )


def test_unknown_zrm_domain_is_refused_R24() -> None:
    case = active_case()
    with pytest.raises(InvalidValue, match="^R-24:"):
        case.record(
            provider(),
            f.Evaluation(evaluated_on=date(2024, 3, 1), kind="periodic", zrm={"geluk": 3}),
            ZOU,
        )


def test_evaluation_keeps_only_the_domains_given_R32() -> None:
    case = active_case()
    case.record(
        provider(),
        f.Evaluation(evaluated_on=date(2024, 3, 1), kind="periodic", zrm={"huisvesting": 2}),
        ZOU,
    )
    assert case.state.last_evaluation is not None
    assert case.state.last_evaluation.zrm == {"huisvesting": 2}


# --- catalogue rules, C-03 ------------------------------------------


def test_ib0_before_2022_is_refused_R04() -> None:
    case = referred_case("drechtsteden", on=date(2021, 6, 1))
    with refused("R-04"):
        case.record(
            municipality("drechtsteden"),
            indication("IB0", starts_on=date(2021, 7, 1), ends_on=date(2021, 12, 31)),
            SDD,
        )


def test_ib0_from_2022_is_accepted_R04() -> None:
    case = referred_case("drechtsteden", on=date(2022, 1, 3))
    case.record(
        municipality("drechtsteden"),
        indication("IB0", starts_on=date(2022, 1, 3), ends_on=date(2022, 12, 31)),
        SDD,
    )
    assert case.state.current is not None
    assert case.state.current.product == "IB0"


def test_surcharge_on_a_product_without_one_is_refused_R01() -> None:
    case = referred_case("drechtsteden", on=date(2022, 1, 3))
    with refused("R-01"):
        case.record(
            municipality("drechtsteden"),
            indication("IB0", starts_on=date(2022, 1, 3), surcharge=True),
            SDD,
        )


def test_mo_case_scaled_to_an_ambulant_product_is_refused_R08() -> None:
    case = referred_case("drechtsteden", on=date(2021, 3, 1))
    case.record(
        municipality("drechtsteden"),
        indication("IB2-MO", starts_on=date(2021, 3, 1), ends_on=date(2022, 2, 28)),
        SDD,
    )
    with refused("R-08"):
        case.record(
            municipality("drechtsteden"),
            f.ScaleChange(effective_on=date(2021, 9, 1), product="IB1", volume=pieces()),
            SDD,
        )
    case.record(
        municipality("drechtsteden"),
        f.ScaleChange(effective_on=date(2021, 9, 1), product="IB1-MO", volume=pieces()),
        SDD,
    )
    assert case.state.current is not None
    assert case.state.current.product == "IB1-MO"


@pytest.mark.parametrize(
    ("awbz_class", "codes", "product", "surcharge"),
    [
        (1, [], "IB1", False),
        (2, ["H152"], "IB1", True),
        (3, [], "IB3", False),
        (5, ["H153"], "IB3", True),
    ],
)
def test_awbz_conversion_follows_the_table_R05(
    awbz_class: int, codes: list[str], product: str, surcharge: bool
) -> None:
    from domain.rules import convert_awbz

    assert convert_awbz(SDD, awbz_class, codes) == (product, surcharge)


def test_awbz_conversion_with_another_outcome_is_refused_R05() -> None:
    case = referred_case("drechtsteden", on=date(2015, 11, 1))
    with refused("R-05"):
        case.record(
            municipality("drechtsteden"),
            f.AwbzConversion(
                converted_on=date(2016, 1, 1),
                awbz_class=4,
                assignment_number="AWBZ-1",
                product="IB1",
                surcharge=False,
                volume=pieces(1, "four_weeks"),
                starts_on=date(2016, 1, 1),
                ends_on=date(2016, 6, 30),
            ),
            SDD,
        )


def test_unknown_product_is_refused_C03() -> None:
    case = referred_case()
    with refused("C-03"):
        case.record(municipality(), indication("IB2"), ZOU)  # an SDD product in ZOU


def test_hourly_product_with_a_result_unit_is_refused_C03() -> None:
    case = referred_case()
    with refused("C-03"):
        case.record(municipality(), indication("02A05", volume=pieces()), ZOU)


def test_municipality_outside_the_tenant_is_refused_C03() -> None:
    with refused("C-03"):
        Case.open(municipality(), referral("zou", municipality="Dordrecht"), ZOU)


# --- C-05: duration limits ----------------------------------------------------------


def test_02A03_shorter_than_a_month_is_refused_C05() -> None:
    case = referred_case()
    with refused("C-05"):
        case.record(
            municipality(),
            indication("02A03", starts_on=date(2024, 2, 1), ends_on=date(2024, 2, 20)),
            ZOU,
        )


def test_02A03_longer_than_twelve_months_is_refused_C05() -> None:
    case = referred_case()
    with refused("C-05"):
        case.record(
            municipality(),
            indication("02A03", starts_on=date(2024, 2, 1), ends_on=date(2025, 2, 1)),
            ZOU,
        )
    case.record(
        municipality(),
        indication("02A03", starts_on=date(2024, 2, 1), ends_on=date(2025, 1, 31)),
        ZOU,
    )


def test_02A04_extension_past_a_year_is_allowed_with_a_review_signal_C05() -> None:
    # DOMAIN 02A04: "in principle" at most a year, a signal (projections.signals), not a
    # refusal
    case = referred_case()
    case.record(
        municipality(),
        indication("02A04", starts_on=date(2024, 2, 1), ends_on=date(2024, 7, 31)),
        ZOU,
    )
    case.record(
        municipality(),
        f.Extension(
            assignment_number="TW-0001", ends_on=date(2025, 3, 1), decided_on=date(2024, 7, 1)
        ),
        ZOU,
    )
    assert case.state.current.ends_on == date(2025, 3, 1)


def test_02A05_extension_opens_a_new_allocation_period_C05() -> None:
    case = active_case()
    case.record(
        municipality(),
        f.Extension(
            assignment_number="TW-0001", ends_on=date(2025, 12, 31), decided_on=date(2024, 11, 1)
        ),
        ZOU,
    )
    assert case.state.current is not None
    assert (case.state.current.assignment_number, case.state.current.ends_on) == (
        "TW-0001",
        date(2025, 12, 31),
    )
    with refused("C-05"):
        case.record(
            municipality(),
            f.Extension(
                assignment_number="TW-0001", ends_on=date(2027, 1, 31), decided_on=date(2025, 11, 1)
            ),
            ZOU,
        )


# --- C-01, C-02, C-04: order and the end ------------------------------------------------


def test_contact_before_care_started_is_refused_C02() -> None:
    case = referred_case()
    case.record(municipality(), indication(), ZOU)
    with refused("C-02"):
        case.record(provider(), contact(), ZOU)


def test_contact_dated_before_the_start_of_care_is_refused_C02() -> None:
    case = active_case()
    with refused("C-02"):
        case.record(provider(), contact(on=date(2024, 1, 19)), ZOU)


def test_nothing_but_corrections_after_the_end_C01() -> None:
    case = active_case()
    case.record(provider(), f.End(ended_on=date(2024, 6, 30), reason="19"), ZOU)
    with refused("C-01"):
        case.record(provider(), contact(on=date(2024, 7, 2)), ZOU)
    with refused("C-01"):
        case.record(
            municipality(),
            f.Extension(
                assignment_number="TW-0001", ends_on=date(2025, 6, 1), decided_on=date(2024, 7, 1)
            ),
            ZOU,
        )
    with refused("C-01"):
        case.record(provider(), f.End(ended_on=date(2024, 7, 1), reason="19"), ZOU)
    # a late registration of a contact before the end is not "after the end"
    case.record(provider(), contact(on=date(2024, 6, 28)), ZOU)
    case.correct(
        provider(),
        f.Correction(
            event_version=5, replacement=contact(on=date(2024, 6, 28), minutes=30), reason="typo"
        ),
        ZOU,
    )
    assert case.state.status == "ended"


def test_end_before_the_start_of_care_is_refused_C04() -> None:
    case = active_case()
    with refused("C-04"):
        case.record(provider(), f.End(ended_on=date(2024, 1, 19), reason="19"), ZOU)


# --- C-06: impossible values ----------------------------------------------------------


@pytest.mark.parametrize("minutes", [0, -5, 24 * 60 + 1])
def test_impossible_minutes_are_refused_C06(minutes: int) -> None:
    case = active_case()
    with pytest.raises(InvalidValue, match="^C-06:"):
        case.record(provider(), contact(minutes=minutes), ZOU)


def test_group_contact_without_participants_is_refused_C06() -> None:
    case = active_case()
    with pytest.raises(InvalidValue, match="^C-06:"):
        case.record(provider(), contact(kind="group", participants=0), ZOU)
    with pytest.raises(InvalidValue, match="^C-06:"):
        case.record(provider(), contact(kind="group", professionals=0, participants=4), ZOU)


def test_volume_of_zero_hours_is_refused_C06() -> None:
    case = referred_case()
    with pytest.raises(InvalidValue, match="^C-06:"):
        case.record(municipality(), indication(volume=hours(0)), ZOU)


# --- C-07, C-08: duplicates and corrections --------------------------------------------


def test_second_intake_is_refused_C07() -> None:
    case = referred_case()
    case.record(provider(), f.Intake(held_on=date(2024, 1, 12)), ZOU)
    with refused("C-07"):
        case.record(provider(), f.Intake(held_on=date(2024, 1, 13)), ZOU)


def test_correction_of_an_unknown_version_is_refused_C07() -> None:
    case = active_case()
    with refused("C-07"):
        case.retract(provider(), f.Retraction(event_version=99, reason="?"), ZOU)


def test_correction_by_another_kind_of_fact_is_refused_C07() -> None:
    case = active_case()
    with refused("C-07"):
        case.correct(
            provider(),
            f.Correction(event_version=3, replacement=contact(), reason="wrong kind"),
            ZOU,
        )


def test_only_the_writer_role_corrects_an_event_C08() -> None:
    case = active_case()
    case.record(provider(), contact(), ZOU)
    with refused("C-08"):
        case.retract(municipality(), f.Retraction(event_version=4, reason="no"), ZOU)


def test_retracted_start_of_care_refolds_the_state() -> None:
    case = active_case()
    case.retract(provider(), f.Retraction(event_version=3, reason="registered in error"), ZOU)
    assert case.state.status == "indicated"
    assert case.entry(3).retracted
    assert case.entry(3).corrected_by == [4]


def test_corrected_start_of_care_keeps_rules_R20() -> None:
    case = active_case()
    with refused("R-20"):
        case.correct(
            provider(),
            f.Correction(
                event_version=3, replacement=f.CareStart(started_on=date(2024, 1, 1)), reason="x"
            ),
            ZOU,
        )
    case.correct(
        provider(),
        f.Correction(
            event_version=3, replacement=f.CareStart(started_on=date(2024, 1, 22)), reason="x"
        ),
        ZOU,
    )
    assert case.state.started_on == date(2024, 1, 22)


# --- no-shows and change requests ---------------------------------------------


def test_cancellation_a_day_ahead_is_recorded_as_a_cancellation_not_a_no_show_R13() -> None:
    case = active_case()
    appointment = at(date(2024, 3, 5), 10)
    timely = f.NoShow(scheduled_at=appointment, cancelled_at=appointment - timedelta(hours=24))
    late = f.NoShow(scheduled_at=appointment, cancelled_at=appointment - timedelta(hours=23))
    case.record(provider(), timely, ZOU)
    assert is_timely_cancellation(timely, 24)
    assert not is_timely_cancellation(late, 24)
    assert not is_timely_cancellation(f.NoShow(scheduled_at=appointment), 24)


def test_no_show_without_utc_offset_is_refused_C06() -> None:
    case = active_case()
    with pytest.raises(InvalidValue, match="^C-06:"):
        case.record(
            provider(), f.NoShow(scheduled_at=datetime(2024, 3, 5, 10), planned_minutes=60), ZOU
        )
    case.record(
        provider(),
        f.NoShow(scheduled_at=datetime(2024, 3, 5, 10, tzinfo=UTC), planned_minutes=60),
        ZOU,
    )


def test_a_declarable_no_show_without_planned_minutes_is_an_invalid_value_R13() -> None:
    case = active_case(product="02A05")
    with pytest.raises(InvalidValue, match="^R-13:") as invalid:
        case.record(provider(), f.NoShow(scheduled_at=datetime(2024, 3, 5, 10, tzinfo=UTC)), ZOU)
    assert invalid.value.field == "planned_minutes"
    # 02A03 never declares no-shows: the planned length is not required there
    case = active_case(product="02A03")
    case.record(provider(), f.NoShow(scheduled_at=datetime(2024, 3, 5, 10, tzinfo=UTC)), ZOU)


def test_change_request_without_report_is_refused_R19() -> None:
    case = active_case()
    with refused("R-19"):
        case.record(
            provider(),
            f.ChangeRequest(
                request_id="WV-1",
                kind="scale_down",
                volume=hours(2),
                effective_on=date(2024, 5, 1),
                report=" ",
            ),
            ZOU,
        )


def test_granted_scale_down_withdraws_and_reassigns_R25_R30() -> None:
    case = active_case()
    case.record(
        provider(),
        f.ChangeRequest(
            request_id="WV-1",
            kind="scale_down",
            volume=hours(2),
            effective_on=date(2024, 5, 1),
            report="doelen huisvesting bereikt",
        ),
        ZOU,
    )
    case.decide_change(
        municipality(),
        f.ChangeDecision(request_id="WV-1", granted=True, decided_on=date(2024, 4, 20)),
        ZOU,
    )
    old, new = case.state.assignments
    assert old.withdrawn_on == date(2024, 4, 30)
    assert (new.volume.amount, new.starts_on, new.ends_on) == (
        2,
        date(2024, 5, 1),
        date(2024, 12, 31),
    )
    assert new.assignment_number != old.assignment_number
    assert [e.event_type for e in case.entries[-2:]] == ["ChangeDecided", "ScaleChanged"]
    with refused("C-07"):
        case.decide_change(
            municipality(),
            f.ChangeDecision(request_id="WV-1", granted=False, decided_on=date(2024, 4, 21)),
            ZOU,
        )


def test_rejected_extension_changes_nothing_R19() -> None:
    case = active_case()
    case.record(
        provider(),
        f.ChangeRequest(
            request_id="WV-2",
            kind="extension",
            ends_on=date(2025, 6, 30),
            effective_on=date(2025, 1, 1),
            report="nog niet zelfredzaam op financien",
        ),
        ZOU,
    )
    case.decide_change(
        municipality(),
        f.ChangeDecision(request_id="WV-2", granted=False, decided_on=date(2024, 11, 1)),
        ZOU,
    )
    assert case.state.current is not None
    assert case.state.current.ends_on == date(2024, 12, 31)
    assert case.state.open_requests == ()
