"""Audit history and dispute replay: the case's events as an auditor reads them.

``history``: every event, oldest first, with its version, type, recorded instant, business
date, actor and data, and the links between corrections and what they correct (``corrects``
on the correcting event, ``corrected_by`` on the corrected one).

``replay``: the same events step by step, each with the case state after it, the lifecycle
rules the step passed, the declaration decision for the event as it was judged with what
was known at that step, and the signals the step opened or closed. An auditor settling a
dispute over a declaration sees exactly when the system knew what, and why it decided so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec

from domain import facts as f
from domain.catalogue import Catalogue
from domain.rule_index import RULES_CHECKED
from domain.values import Actor
from projections.case_view import CaseOut, case_document
from projections.consumption import Decision
from projections.derive import Derived, derive
from projections.signals import Signal


class HistoryEvent(msgspec.Struct, kw_only=True):
    version: int
    type: str
    recorded_at: datetime
    occurred_on: date
    actor: Actor
    data: Any
    corrects: int | None = None
    corrected_by: list[int] = []


class Step(msgspec.Struct, kw_only=True):
    event: HistoryEvent
    rules_checked: list[str]
    state: CaseOut
    decisions: list[Decision]
    signals_opened: list[Signal]
    signals_closed: list[Signal]


def history(events: Sequence[Any]) -> list[HistoryEvent]:
    out = [
        HistoryEvent(
            version=e.originator_version,
            type=type(e).__name__,
            recorded_at=e.timestamp,
            occurred_on=e.occurred_on,
            actor=e.actor,
            data=e.fact,
            corrects=e.fact.event_version
            if isinstance(e.fact, f.Retraction | f.Correction)
            else None,
        )
        for e in events
    ]
    by_version = {h.version: h for h in out}
    for h in out:
        if h.corrects is not None and h.corrects in by_version:
            by_version[h.corrects].corrected_by.append(h.version)
    return out


def replay(events: Sequence[Any], cat: Catalogue, until: int | None = None) -> list[Step]:
    """Step through the events (up to version ``until``), judging each with what was known."""
    steps: list[Step] = []
    case = None
    derived: Derived | None = None
    before: list[Signal] = []
    records = history(events)
    for event, record in zip(events, records, strict=True):
        if until is not None and event.originator_version > until:
            break
        case = event.mutate(case)
        assert case is not None
        version = event.originator_version
        # each step derived from the one before (projections.derive)
        derived = derive(str(case.id), case.state, case.entries, cat, version, derived)
        months = derived.months
        decisions: list[Decision] = []
        if isinstance(event.fact, f.Contact | f.NoShow | f.Retraction | f.Correction):
            target = event.fact.event_version if hasattr(event.fact, "event_version") else version
            for month in months.values():
                decisions += [d for d in month.decisions if d.event_version == target]
        after = derived.signals
        opened = [s for s in after if not any(_same(s, b) for b in before)]
        closed = [
            s
            for s in after
            if s.closed_on is not None and any(_same(s, b) and b.closed_on is None for b in before)
        ]
        before = after
        state = case_document(case)
        assert state is not None
        steps.append(
            Step(
                event=record,
                rules_checked=RULES_CHECKED.get(record.type, []),
                state=state,
                decisions=decisions,
                signals_opened=opened,
                signals_closed=closed,
            )
        )
    return steps


def _same(a: Signal, b: Signal) -> bool:
    return a.rule == b.rule and a.raised_on == b.raised_on and a.detail[:40] == b.detail[:40]
