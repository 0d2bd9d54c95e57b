"""Signals: facts a municipality or provider must act on, opened and closed by events.

A pure function of the case's effective facts. Signals that fire because something did
*not* happen by a date (no intake 14 days after referral, R-15) get that date as
``raised_on``, which may lie in the future of the last event; readers show a signal from
its ``raised_on`` on (``visible_on``), so the answer for any business date is exact
without a clock inside the projection.

- R-14 two consecutive no-shows: report back to the local team; the third: re-establish
  contact. A contact (direct or group) closes the streak. Only where the tenant's
  catalogue lists R-14 in ``contract_signals`` (a ZOU contract rule, 004).
- R-15 no intake ``intake_within_days`` (14) after the referral; closed by the intake. Only
  where the catalogue lists R-15 in ``contract_signals``.
- R-29 no decision ``decision_within_days`` (56, catalogue) after the referral; closed by
  the decision date (``decided_on``, a business date, never the recording date).
- R-18 (hourly products) a month's use at least double the weekly volume's share of that
  month; 80% of the hours used while the remaining hours will not last until the end date;
  an extension request due 8 weeks before the hours run out at the recent pace. Closed by
  a change request or the end of the assignment.
- R-23 (where the catalogue defines ``targeting``) an evaluation scores a domain that the
  running indication's goals work on outside IB's targets: 4-5 (self-reliant), 1 outside
  the named acute domains, or a linked-only domain (Justitie) without its link scored.
  Closed by a later evaluation within the targets, a new assignment or the end.
- C-05 duration behaviour, from the product's catalogue entry: ``max_warning_months``
  before ``max_months`` is reached (02A03: a month ahead); an interim evaluation due after
  ``interim_evaluation_months`` (02A04: 6, closed by an interim evaluation); a risk analysis
  and follow-up plan after ``review_after_months`` (02A04: 12, "in principle" a year).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import msgspec

from domain import facts as f
from domain.catalogue import Catalogue
from domain.rules import add_months
from domain.state import Assignment, CaseState, Entry, is_timely_cancellation
from projections.consumption import (
    MonthConsumption,
    MonthFold,
    consumption,
    granted_minutes,
    month_bounds,
    weekly_minutes,
)

_EIGHTY = Decimal("0.8")


class Signal(msgspec.Struct, kw_only=True):
    rule: str
    raised_on: date
    detail: str
    closed_on: date | None = None

    def open_on(self, day: date) -> bool:
        return self.raised_on <= day and (self.closed_on is None or self.closed_on > day)


def signals(
    state: CaseState,
    entries: Iterable[Entry],
    cat: Catalogue,
    months: dict[str, MonthConsumption] | None = None,
    folds: Mapping[str, MonthFold] | None = None,
) -> list[Signal]:
    """From ``projections.derive`` (a case's derivation): ``months`` and ``folds``, the
    consumption and its folded months, which hold the effective contacts and no-shows and
    keep what each month's decisions imply; ``entries`` then need only hold the other
    facts."""
    entries = [e for e in entries if not e.retracted]
    if months is None:
        months = consumption(state, entries, cat)
    out: list[Signal] = []
    if "R-14" in cat.contract_signals:
        if folds is not None:
            chunks: list[tuple[Sequence[Entry], dict[object, object] | None]] = [
                (fold.entries, fold.memo) for fold in folds.values()
            ]
        else:
            ordered = sorted(
                (e for e in entries if isinstance(e.fact, f.Contact | f.NoShow)),
                key=lambda e: (e.occurred_on, e.version),
            )
            chunks = [(ordered, None)]
        out += _no_show_streaks(chunks, cat)
    change_requests = sorted(e.occurred_on for e in entries if isinstance(e.fact, f.ChangeRequest))
    end = state.ended_on

    def closed_by(*candidates: date | None) -> date | None:
        found = [c for c in candidates if c is not None]
        return min(found) if found else None

    due = state.referred_on + timedelta(days=cat.intake_within_days)
    if (
        "R-15" in cat.contract_signals
        and (state.intake_on is None or state.intake_on > due)
        and (end is None or end > due)
    ):
        out.append(
            Signal(
                rule="R-15",
                raised_on=due,
                detail=f"no intake within {cat.intake_within_days} days of the referral "
                f"({state.referred_on})",
                closed_on=closed_by(state.intake_on, end),
            )
        )
    decided = min((a.decided_on or a.starts_on for a in state.assignments), default=None)
    due = state.referred_on + timedelta(days=cat.decision_within_days)
    if (decided is None or decided > due) and (end is None or end > due):
        out.append(
            Signal(
                rule="R-29",
                raised_on=due,
                detail=f"no decision within {cat.decision_within_days} days of the referral",
                closed_on=closed_by(decided, end),
            )
        )
    out += _hours(state, cat, change_requests, months, folds)
    out += _durations(state, entries, cat)
    out += _targeting(state, entries, cat)
    out.sort(key=lambda s: (s.raised_on, s.rule))
    return out


@dataclass(frozen=True, slots=True)
class _MonthUse:
    """R-18 inputs of one month for one hourly assignment: its declarable decisions valid
    for the assignment (day, minutes, in decision order), their sum, and where the month's
    use first reaches double the weekly volume's share of the month (index, use then)."""

    pace: list[tuple[date, int]]
    total: int
    double: tuple[int, int] | None


def _month_use(key: str, m: MonthConsumption, a: Assignment, weekly: Decimal) -> _MonthUse:
    first, last = month_bounds(key)
    days_valid = max(0, (min(a.until, last) - max(a.starts_on, first)).days + 1)
    expected_month = weekly * days_valid / 7
    pace: list[tuple[date, int]] = []
    in_month = 0
    double: tuple[int, int] | None = None
    for d in m.decisions:
        day = d.occurred_on
        if d.declarable_minutes == 0 or not a.valid_on(day):
            continue
        in_month += d.declarable_minutes
        pace.append((day, d.declarable_minutes))
        if double is None and days_valid and in_month >= 2 * expected_month:
            double = (len(pace) - 1, in_month)
    return _MonthUse(pace, in_month, double)


def _use(
    key: str,
    m: MonthConsumption,
    a: Assignment,
    weekly: Decimal,
    fold: MonthFold | None,
) -> _MonthUse:
    """``_month_use``, kept with the month's fold while its decisions stay (a contact
    decides its own month again, not the others)."""
    if fold is None or fold.month is not m:
        return _month_use(key, m, a, weekly)
    memo_key = ("R-18", a.starts_on, a.until, weekly)
    use = fold.memo.get(memo_key)
    if use is None:
        use = fold.memo[memo_key] = _month_use(key, m, a, weekly)
    assert isinstance(use, _MonthUse)
    return use


#: R-14 signal details by the streak's length
_STREAK = {
    2: "2 consecutive no-shows: report back to the local team",
    3: "3rd consecutive no-show: re-establish contact to decide how to continue",
}


@dataclass(frozen=True, slots=True)
class _StreakPart:
    """R-14 over one chunk of contacts and no-shows, from the streak carried into it: the
    first contact that closes a streak (else None), the signals raised before it, those
    raised and closed after it, the streak carried out and the signals still open."""

    closer: date | None
    head: list[tuple[date, str]]
    middle: list[tuple[date, str, date]]
    streak: int
    tail: list[tuple[date, str]]


def _streak_part(entries: Iterable[Entry], cat: Catalogue, streak: int) -> _StreakPart:
    closer: date | None = None
    head: list[tuple[date, str]] = []
    middle: list[tuple[date, str, date]] = []
    opened: list[tuple[date, str]] = []
    for e in entries:
        if isinstance(e.fact, f.NoShow):
            if is_timely_cancellation(e.fact, cat.no_show_notice_hours):
                continue
            streak += 1
            if streak in _STREAK:
                opened.append((e.occurred_on, _STREAK[streak]))
        elif isinstance(e.fact, f.Contact) and e.fact.kind in ("direct", "group"):
            if closer is None:
                closer, head = e.occurred_on, opened
            else:
                middle += [(day, detail, e.occurred_on) for day, detail in opened]
            opened, streak = [], 0
    if closer is None:
        return _StreakPart(None, opened, [], streak, [])
    return _StreakPart(closer, head, middle, streak, opened)


def _no_show_streaks(
    chunks: Iterable[tuple[Sequence[Entry], dict[object, object] | None]], cat: Catalogue
) -> list[Signal]:
    """R-14 over the contacts and no-shows in (business date, version) order, given in
    chunks (a derivation's months, or the whole timeline as one): each chunk's part is
    kept in its memo, when it has one, for the streak carried into it (0, 1, 2, or 3 and
    more: alike from there on)."""
    out: list[Signal] = []
    pending: list[Signal] = []
    streak = 0
    for entries, memo in chunks:
        carried = min(streak, 3)
        key = ("R-14", carried, cat.no_show_notice_hours)
        part = memo.get(key) if memo is not None else None
        if part is None:
            part = _streak_part(entries, cat, carried)
            if memo is not None:
                memo[key] = part
        assert isinstance(part, _StreakPart)
        pending += [Signal(rule="R-14", raised_on=d, detail=t) for d, t in part.head]
        if part.closer is not None:
            for sig in pending:
                sig.closed_on = part.closer
            out += pending
            out += [
                Signal(rule="R-14", raised_on=d, detail=t, closed_on=c) for d, t, c in part.middle
            ]
            pending = [Signal(rule="R-14", raised_on=d, detail=t) for d, t in part.tail]
        streak = part.streak
    return out + pending


def _hours(
    state: CaseState,
    cat: Catalogue,
    change_requests: list[date],
    months: dict[str, MonthConsumption],
    folds: Mapping[str, MonthFold] | None = None,
) -> list[Signal]:
    """R-18, from each month's use (``_MonthUse``, kept with the month): a month is read
    decision by decision only where the 80% threshold can be passed in it."""
    out: list[Signal] = []
    use_raised: set[str] = set()  # months with a "use in" signal (of any assignment)
    folds = folds or {}
    for a in state.assignments:
        product = cat.product_any(a.product)
        if product is None or product.financing != "hourly":
            continue
        weekly = weekly_minutes(a)
        granted = granted_minutes(a)
        if weekly <= 0:
            continue

        def closes(after: date, a: Assignment = a) -> date | None:
            later = [d for d in change_requests if d >= after]
            candidates = [*later[:1], a.until + timedelta(days=1)]
            if state.ended_on:
                candidates.append(state.ended_on)
            return min(candidates)

        def use_in(key: str, day: date, in_month: int, weekly: Decimal = weekly) -> Signal:
            return Signal(
                rule="R-18",
                raised_on=day,
                detail=f"use in {key} ({in_month / 60:.1f} h) is double the indicated "
                f"{weekly / 60:.1f} h/week: contact the local team",
                closed_on=closes(day),
            )

        used = Decimal(0)
        eighty_raised = False
        eighty = _EIGHTY * granted
        uses: list[tuple[str, _MonthUse]] = []
        for key, m in months.items():
            use = _use(key, m, a, weekly, folds.get(key))
            if use.pace:
                uses.append((key, use))
            double = use.double if key not in use_raised else None
            if double is not None:
                use_raised.add(key)
            after = used + use.total
            if (
                eighty_raised
                or not granted
                or after < eighty
                or not use.pace
                or granted - after >= weekly * (a.until - use.pace[0][0]).days / 7
            ):
                # the 80% signal cannot be raised in this month: the threshold is not
                # reached by its end, or the rest lasts even from its first day on
                if double is not None:
                    out.append(use_in(key, use.pace[double[0]][0], double[1]))
                used = after
                continue
            for i, (day, minutes) in enumerate(use.pace):
                if double is not None and i == double[0]:
                    out.append(use_in(key, day, double[1]))
                used += minutes
                if (
                    not eighty_raised
                    and used >= eighty
                    and granted - used < weekly * (a.until - day).days / 7
                ):
                    eighty_raised = True
                    out.append(
                        Signal(
                            rule="R-18",
                            raised_on=day,
                            detail=f"80% of {granted / 60:.1f} h used on {day}; the rest will "
                            f"not last until {a.until}: contact the local team",
                            closed_on=closes(day),
                        )
                    )
        if uses:
            last_day = uses[-1][1].pace[-1][0]
            since = last_day - timedelta(weeks=8)
            recent = 0
            for key, use in reversed(uses):
                recent += sum(minutes for day, minutes in use.pace if day > since)
                if month_bounds(key)[0] <= since:
                    break
            per_day = Decimal(recent) / 56
            if per_day > 0 and granted > used:
                run_out = last_day + timedelta(days=int((granted - used) / per_day))
                if run_out < a.until:
                    raise_on = max(run_out - timedelta(weeks=8), a.starts_on)
                    out.append(
                        Signal(
                            rule="R-18",
                            raised_on=raise_on,
                            detail="at the pace of the last 8 weeks the hours run out on "
                            f"{run_out}, before {a.until}: "
                            "file a motivated extension request 8 weeks ahead",
                            closed_on=closes(raise_on),
                        )
                    )
    return out


def _durations(state: CaseState, entries: list[Entry], cat: Catalogue) -> list[Signal]:
    """C-05 duration behaviour as the product's catalogue entry describes it."""
    out: list[Signal] = []
    if not state.assignments:
        return out
    first = state.assignments[0]
    product = cat.product_any(first.product)
    if product is None:
        return out
    end = state.ended_on
    if product.max_months and product.max_warning_months:
        limit = add_months(first.starts_on, product.max_months)
        raised = add_months(first.starts_on, product.max_months - product.max_warning_months)
        if end is None or end > raised:
            out.append(
                Signal(
                    rule="C-05",
                    raised_on=raised,
                    detail=f"{product.code} reaches its maximum of {product.max_months} months "
                    f"on {limit}",
                    closed_on=end,
                )
            )
    if product.interim_evaluation_months:
        due = add_months(first.starts_on, product.interim_evaluation_months)
        interim = min(
            (
                e.occurred_on
                for e in entries
                if isinstance(e.fact, f.Evaluation) and e.fact.kind == "interim"
            ),
            default=None,
        )
        if (interim is None or interim > due) and (end is None or end > due):
            out.append(
                Signal(
                    rule="C-05",
                    raised_on=due,
                    detail=f"{product.code}: interim evaluation with the consultant due at "
                    f"{product.interim_evaluation_months} months",
                    closed_on=min((d for d in (interim, end) if d), default=None),
                )
            )
    if product.review_after_months:
        review = add_months(first.starts_on, product.review_after_months)
        if end is None or end > review:
            out.append(
                Signal(
                    rule="C-05",
                    raised_on=review,
                    detail=f"{product.code} after {product.review_after_months} months: "
                    "risk analysis and follow-up plan",
                    closed_on=end,
                )
            )
    return out


def _off_target(cat: Catalogue, goals: set[str], zrm: dict[str, int]) -> list[str]:
    """R-23: the goal domains this evaluation scores outside IB's targets."""
    t = cat.targeting
    assert t is not None
    out = []
    for domain in sorted(goals & set(zrm)):
        score = zrm[domain]
        if score == 1 and domain in t.acute_domains:
            continue
        if score not in t.target_scores:
            out.append(f"{domain} scored {score}")
        elif domain in t.linked_only and not set(t.linked_only[domain]) & set(zrm):
            out.append(f"{domain} without {' or '.join(t.linked_only[domain])}")
    return out


def _targeting(state: CaseState, entries: list[Entry], cat: Catalogue) -> list[Signal]:
    if cat.targeting is None:
        return []
    out: list[Signal] = []
    current: Signal | None = None
    evaluations = sorted(
        (e for e in entries if isinstance(e.fact, f.Evaluation)),
        key=lambda e: (e.occurred_on, e.version),
    )
    for e in evaluations:
        day = e.occurred_on
        a = state.assignment_on(day)
        goals = {g.domain for g in a.goals} if a else set()
        off = _off_target(cat, goals, e.fact.zrm)  # type: ignore[union-attr]
        if current is not None and (not off or (a and a.starts_on > current.raised_on)):
            current.closed_on = day
            current = None
        if off and current is None:
            current = Signal(
                rule="R-23",
                raised_on=day,
                detail="IB works on ZRM domains scored 2-3 (1 only in the named domains): "
                + ", ".join(off),
            )
            out.append(current)
    if current is not None:
        later = [a.starts_on for a in state.assignments if a.starts_on > current.raised_on]
        candidates = [*later[:1], *([state.ended_on] if state.ended_on else [])]
        current.closed_on = min(candidates) if candidates else None
    return out
