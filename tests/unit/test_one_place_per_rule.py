"""One place per rule (issue 14 item 3): every kind of fact has one check named after what
it guards, the rules the dispute replay says were checked are derived from those checks,
docs/rules.md names places that exist, and the rules found by random command sequences
(a care fact outside start..end of care, C-02) and the change decision's date (C-04) are
refused where they live."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from domain import facts as f
from domain import rules
from domain.case import EVENT_FOR_FACT, Case
from domain.errors import RuleViolation
from domain.rule_index import RULES_CHECKED, rules_of
from tests.builders import (
    active_case,
    catalogue,
    contact,
    hours,
    indication,
    municipality,
    provider,
    referral,
)

ZOU = catalogue("zou")
RULES_MD = Path(__file__).parents[2] / "docs" / "rules.md"


def refused(rule: str) -> pytest.RaisesContext[RuleViolation]:
    return pytest.raises(RuleViolation, match=f"^{rule}:")


def change_requested(case: Case) -> None:
    case.record(
        provider(),
        f.ChangeRequest(
            request_id="WV-1",
            kind="extension",
            ends_on=date(2025, 6, 30),
            effective_on=date(2025, 1, 1),
            report="nog niet zelfredzaam",
        ),
        ZOU,
    )


# --- C-04: a change is decided after what it changes was ----------------------------------


def test_a_change_decided_before_the_assignment_it_changes_is_refused_C04() -> None:
    # given a running assignment decided on 2024-01-15 and an extension requested
    case = active_case()
    change_requested(case)
    # when the decision is dated the day before that assignment's decision, it is refused
    with refused("C-04"):
        case.decide_change(
            municipality(),
            f.ChangeDecision(request_id="WV-1", granted=True, decided_on=date(2024, 1, 14)),
            ZOU,
        )
    # then on the assignment's decision date itself it is accepted
    case.decide_change(
        municipality(),
        f.ChangeDecision(request_id="WV-1", granted=True, decided_on=date(2024, 1, 15)),
        ZOU,
    )
    assert case.state.current is not None
    assert case.state.current.ends_on == date(2025, 6, 30)


# --- C-02 over the history: care facts stay within start..end of care ---------------------


def test_an_end_dated_before_recorded_care_is_refused_C02() -> None:
    # given care started on 2024-01-20 and a contact on 2024-02-01
    case = active_case()
    case.record(provider(), contact(on=date(2024, 2, 1)), ZOU)
    # when the end is dated before that contact, it is refused; on its day it is accepted
    with refused("C-02"):
        case.record(municipality(), f.End(ended_on=date(2024, 1, 31), reason="19"), ZOU)
    case.record(municipality(), f.End(ended_on=date(2024, 2, 1), reason="19"), ZOU)
    assert case.state.ended_on == date(2024, 2, 1)


def test_taking_back_the_start_of_care_while_contacts_count_is_refused_C02() -> None:
    # given a contact under running care
    case = active_case()
    case.record(provider(), contact(on=date(2024, 2, 1)), ZOU)
    start = next(e for e in case.entries if isinstance(e.fact, f.CareStart))
    # when the start is retracted, or moved after the contact, it is refused
    with refused("C-02"):
        case.retract(provider(), f.Retraction(event_version=start.version, reason="fout"), ZOU)
    with refused("C-02"):
        case.correct(
            provider(),
            f.Correction(
                event_version=start.version,
                replacement=f.CareStart(started_on=date(2024, 2, 5)),
                reason="later begonnen",
            ),
            ZOU,
        )
    # then once the contact is retracted, the start may go
    contact_version = case.version
    case.retract(provider(), f.Retraction(event_version=contact_version, reason="fout"), ZOU)
    case.retract(provider(), f.Retraction(event_version=start.version, reason="fout"), ZOU)
    assert case.state.started_on is None


# --- one check per fact, rules checked derived -------------------------------------------


def test_every_recorded_kind_of_fact_has_its_own_check() -> None:
    assert set(EVENT_FOR_FACT) <= set(rules.CHECK_FOR_FACT)
    for kind, check in rules.CHECK_FOR_FACT.items():
        assert check.__name__.startswith("check_"), kind
        assert check.__doc__, f"{check.__name__} says what it guards"
    assert len(set(rules.CHECK_FOR_FACT.values())) == len(rules.CHECK_FOR_FACT)


def test_a_fact_without_a_check_is_a_programming_error_not_a_silent_pass() -> None:
    with pytest.raises(TypeError, match="Retraction"):
        rules.check_fact(ZOU, active_case().state, f.Retraction(event_version=1, reason="x"))


def test_rules_checked_are_read_from_the_checks_themselves_R20_C07() -> None:
    # a rule raised directly, and one raised by a check it calls (check_not_ended: C-01)
    assert rules_of(rules.check_care_start) == ["C-01", "C-07", "R-20"]
    # the catalogue's own refusals count for checks that look a product up (C-03, R-04)
    assert {"C-03", "R-04"} <= set(rules_of(rules.check_indication))
    # every event the case records has its list, and each id is a real one
    events = {c.__name__ for c in EVENT_FOR_FACT.values()} | {
        "CaseOpened",
        "ChangeDecided",
        "EventRetracted",
        "EventCorrected",
    }
    assert set(RULES_CHECKED) == events
    assert all(re.fullmatch(r"[RC]-\d\d", rule) for ids in RULES_CHECKED.values() for rule in ids)


def test_docs_rules_md_names_checks_that_exist_and_every_rule_raised() -> None:
    text = RULES_MD.read_text()
    for name in set(re.findall(r"`rules\.(\w+)", text)):
        assert hasattr(rules, name), f"docs/rules.md names rules.{name}, which does not exist"
    raised = set().union(*map(set, RULES_CHECKED.values()))
    for rule in raised:
        assert f"| {rule} " in text, f"{rule} is checked but has no row in docs/rules.md"


def test_a_decision_on_the_referral_day_is_not_before_the_referral_C04() -> None:
    case = Case.open(municipality(), referral(on=date(2024, 1, 8)), ZOU)
    with refused("C-04"):
        case.record(municipality(), indication(decided_on=date(2024, 1, 7)), ZOU)
    case.record(municipality(), indication(decided_on=date(2024, 1, 8), volume=hours(4)), ZOU)
    assert case.state.assignments[0].decided_on == date(2024, 1, 8)


def test_docs_events_md_lists_the_derived_rules_per_event() -> None:
    events_md = (RULES_MD.parent / "events.md").read_text()
    documented = {
        m.group(1): re.findall(r"[RC]-\d\d", m.group(2))
        for m in re.finditer(r"^\| `Case\.(\w+)`[^|]*\|[^|]*\| ([^|]*) \|", events_md, re.M)
    }
    assert documented == RULES_CHECKED
