"""Random command sequences against one case (hypothesis RuleBasedStateMachine): refused
commands write nothing, the invariants hold after every step, and reloading from the store
with snapshots, without snapshots and through the time-travel cache gives the same case."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from application.application import CaseLog
from domain import facts as f
from domain.case import Case
from domain.errors import DomainError
from domain.state import fold
from domain.values import Volume
from storage.config import store_config
from storage.eventstore import fast_project
from tests.builders import indication, municipality, provider, referral

START = date(2024, 1, 15)
days = st.integers(min_value=-20, max_value=400)


class SmallSnapshots(CaseLog):
    snapshotting_intervals: ClassVar[dict[type, int]] = {Case: 5}


class CaseMachine(RuleBasedStateMachine):
    @initialize()
    def open_case(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.app = SmallSnapshots(store=store_config(f"sqlite:///{Path(self.tmp.name) / 'm.db'}"))
        self.case_id, self.version = self.app.open_case(
            municipality(), referral(on=date(2024, 1, 8))
        )
        self.try_(
            self.app.record,
            municipality(),
            indication(starts_on=START, ends_on=START + timedelta(days=300)),
        )
        self.refused = 0

    def teardown(self) -> None:
        self.app.close()
        self.tmp.cleanup()

    def try_(self, command, actor, fact) -> None:
        before = self.app.get_case(self.case_id, municipality()).version
        try:
            self.version = command(self.case_id, actor, fact)
        except DomainError:
            self.refused += 1
            assert self.app.get_case(self.case_id, municipality()).version == before, (
                "a refusal wrote"
            )

    @rule(offset=days)
    def start(self, offset: int) -> None:
        self.try_(
            self.app.record, provider(), f.CareStart(started_on=START + timedelta(days=offset))
        )

    @rule(offset=days, minutes=st.integers(1, 240), kind=st.sampled_from(["direct", "indirect", "group"]),
          digital=st.booleans())  # fmt: skip
    def contact(self, offset: int, minutes: int, kind: str, digital: bool) -> None:
        fact = f.Contact(occurred_on=START + timedelta(days=offset), minutes=minutes, kind=kind,  # type: ignore[arg-type]
                         channel="digital" if digital else "in_person", participants=4 if kind == "group" else 1)  # fmt: skip
        self.try_(self.app.record, provider(), fact)

    @rule(offset=days, scores=st.dictionaries(st.sampled_from(["financien", "huisvesting", "justitie"]),
                                             st.integers(0, 6), max_size=3))  # fmt: skip
    def evaluation(self, offset: int, scores: dict[str, int]) -> None:
        self.try_(
            self.app.record,
            provider(),
            f.Evaluation(evaluated_on=START + timedelta(days=offset), kind="periodic", zrm=scores),
        )

    @rule(offset=days, hours=st.integers(0, 10))
    def scale(self, offset: int, hours: int) -> None:
        fact = f.ScaleChange(effective_on=START + timedelta(days=offset), product="02A05",
                             volume=Volume(amount=Decimal(hours), unit="hour", frequency="week"))  # fmt: skip
        self.try_(self.app.record, municipality(), fact)

    @rule(offset=days, reason=st.sampled_from(["19", "21", "23"]))
    def end(self, offset: int, reason: str) -> None:
        self.try_(
            self.app.record,
            provider(),
            f.End(ended_on=START + timedelta(days=offset), reason=reason),
        )  # type: ignore[arg-type]

    @rule(version=st.integers(1, 40), by_provider=st.booleans())
    def retract(self, version: int, by_provider: bool) -> None:
        actor = provider() if by_provider else municipality()
        self.try_(self.app.retract_event, actor, f.Retraction(event_version=version, reason="fout"))

    @rule(version=st.integers(1, 40), minutes=st.integers(1, 120))
    def correct_contact(self, version: int, minutes: int) -> None:
        fact = f.Correction(event_version=version, reason="minuten",
                            replacement=f.Contact(occurred_on=START + timedelta(days=30), minutes=minutes, kind="direct"))  # fmt: skip
        self.try_(self.app.correct_event, provider(), fact)

    @invariant()
    def the_case_is_consistent_and_reloads_identically(self) -> None:
        if not hasattr(self, "app"):
            return
        case = self.app.get_case(self.case_id, municipality())
        events = list(self.app.events.get(self.case_id))
        assert [e.originator_version for e in events] == list(range(1, case.version + 1))
        replayed = fast_project(None, events)
        assert replayed is not None
        assert (replayed.state, replayed.entries) == (case.state, case.entries)
        assert fold(case.entries) == case.state
        travelled = self.app.get_case(self.case_id, municipality(), version=case.version)
        assert (travelled.state, travelled.entries) == (case.state, case.entries)
        s = case.state
        for a in s.assignments:
            assert a.starts_on <= a.until
        if s.started_on is not None:
            assert s.assignment_on(s.started_on) is not None or any(
                a.starts_on <= s.started_on for a in s.assignments
            ), "R-20: care started under a decision"
        for e in case.entries:
            if not e.retracted and isinstance(e.fact, f.Contact):
                assert s.started_on is not None, "C-02"
                assert s.started_on <= e.occurred_on, "C-02"
                assert s.ended_on is None or e.occurred_on <= s.ended_on, "C-02"
            if not e.retracted and isinstance(e.fact, f.Evaluation):
                assert all(1 <= v <= 5 for v in e.fact.zrm.values()), "R-23"


CaseMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
test_random_command_sequences_keep_the_case_consistent = CaseMachine.TestCase
