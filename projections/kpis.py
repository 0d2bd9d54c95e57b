"""Monitoring KPIs for contract management (R-27, R-28, R-31), from per-case summaries.

:func:`summarise` is a pure function of one case's effective facts: the milestones, scale
moves, monthly activity and cost that the KPIs need, no names and no free text. The runner
keeps one summary row per case; :func:`aggregate` turns any set of summaries into the KPI
document of shared/API.md for a period and filters. The same two functions answer "as of"
questions: summaries of the cases as they were recorded at that instant.

Definitions (per period ``[period_start, period_end]``, business dates):
- ``cases``: cases referred by the period's end and not ended before its start.
- ``uitstroom``: cases ended in the period; successful = reason 19 (ended according to
  plan). R-31, judged on the reference date (the ``as_of`` instant, else today): a
  ``transfer`` (reason 38, or a new case for the same client referred while this one ran)
  is not outflow that lasts; an end followed by a new case for the client in the region
  within ``lasting_outflow_months`` (12, catalogue) is not lasting; otherwise an end whose
  window has passed is ``lasting`` and one whose window is still open ``lasting_pending``.
  ``rate_lasting`` = lasting / the ends whose window has passed (transfers and returns
  among them count as not lasting).
- ``doorlooptijd``: referral to intake (intakes in the period), referral to indication (first
  decision dates in the period, with the share within the catalogue's norm of
  ``decision_within_days``, R-29), indication to start (decision date to start of care,
  starts in the period), trajectory (start to end, ends in the period): median, p90, n in
  days.
- ``afschaling`` / ``opschaling``: a new assignment that withdraws the running one (scale
  change) or follows it without a gap (re-indication at its end, R-26: IB1 then IB0) with a
  lower / higher product level (SDD category, ZOU function level, catalogue ``level``,
  R-25) or, at the same product, a lower / higher volume; plus ends to a lighter product or
  general provision (afschaling) or heavier care (opschaling); rate = count / cases.
- ``no_show_rate``: no-shows / (no-shows + direct and group contacts) in the period; timely
  cancellations (R-13) count as neither.
- ``zrm_progress``: per domain, the mean change from the first to the last evaluation of the
  cases in scope with at least two evaluations scoring that domain.
- ``cost``: the amounts due of the months overlapping the period; ``cost_complete`` is false
  when some month's price is unknown.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

import msgspec

from domain import clock
from domain import facts as f
from domain.catalogue import Catalogue
from domain.rules import add_months
from domain.state import Assignment, CaseState, Entry, is_timely_cancellation
from projections.consumption import MonthConsumption, consumption, weekly_minutes

LIGHTER_ENDS = {"lighter_product", "general_provision"}
HEAVIER_ENDS = {"heavier_care"}


class ScaleMove(msgspec.Struct, frozen=True, array_like=True):
    day: date
    direction: str  # "down" | "up"


class CaseSummary(msgspec.Struct, kw_only=True):
    case_id: str
    tenant: str
    provider: str
    municipality: str
    client_ref: str
    products: list[str]
    referred_on: date
    intake_on: date | None = None
    decided_on: date | None = None
    started_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = None
    destination: str | None = None
    moves: list[ScaleMove] = []
    contacts: dict[str, int] = {}  # YYYY-MM -> direct and group contacts
    no_shows: dict[str, int] = {}  # YYYY-MM -> no-shows (not timely cancellations)
    zrm_first: dict[str, int] = {}
    zrm_last: dict[str, int] = {}
    cost: dict[str, str | None] = {}  # YYYY-MM -> amount due (None: price unknown)
    version: int = 0
    recorded_at: datetime | None = None


def _level(cat: Catalogue, product: str) -> int | None:
    p = cat.product_any(product)
    return p.level if p else None


class FactCounts(msgspec.Struct, kw_only=True):
    """What a summary counts from the facts themselves (not the state): contacts and
    no-shows per month and the evaluations in date order. Kept per case version and
    advanced by one fact at a time (``count_fact``)."""

    contacts: dict[str, int] = {}  # YYYY-MM -> direct and group contacts
    no_shows: dict[str, int] = {}  # YYYY-MM -> no-shows (not timely cancellations)
    evaluations: list[tuple[date, int, dict[str, int]]] = []  # (evaluated_on, version, zrm)


def count_facts(entries: Iterable[Entry], cat: Catalogue) -> FactCounts:
    """The counts of the effective facts, in the order the case recorded them."""
    out = FactCounts(contacts={}, no_shows={}, evaluations=[])
    for e in entries:
        if not e.retracted:
            _count(out, e, cat)
    out.evaluations.sort(key=lambda t: (t[0], t[1]))
    return out


def count_fact(t: FactCounts, entry: Entry, cat: Catalogue) -> FactCounts:
    """``t`` with one more fact recorded (``entry``, the case's latest); ``t`` is kept."""
    fact = entry.fact
    if isinstance(fact, f.Contact | f.NoShow | f.Evaluation):
        t = FactCounts(
            contacts=dict(t.contacts), no_shows=dict(t.no_shows), evaluations=t.evaluations
        )
        if isinstance(fact, f.Evaluation):
            t.evaluations = sorted(
                [*t.evaluations, (fact.evaluated_on, entry.version, fact.zrm)],
                key=lambda x: (x[0], x[1]),
            )
        else:
            _count(t, entry, cat)
    return t


def _count(t: FactCounts, e: Entry, cat: Catalogue) -> None:
    fact = e.fact
    key = f"{e.occurred_on.year:04d}-{e.occurred_on.month:02d}"
    if isinstance(fact, f.Contact) and fact.kind in ("direct", "group"):
        t.contacts[key] = t.contacts.get(key, 0) + 1
    elif isinstance(fact, f.NoShow) and not is_timely_cancellation(fact, cat.no_show_notice_hours):
        t.no_shows[key] = t.no_shows.get(key, 0) + 1
    elif isinstance(fact, f.Evaluation):
        t.evaluations.append((fact.evaluated_on, e.version, fact.zrm))


def summarise(
    case_id: str,
    state: CaseState,
    entries: list[Entry],
    cat: Catalogue,
    version: int,
    months: dict[str, MonthConsumption] | None = None,
) -> CaseSummary:
    effective = [e for e in entries if not e.retracted]
    if months is None:
        months = consumption(state, effective, cat)
    return summary(case_id, state, cat, version, months, count_facts(effective, cat))


def summary(
    case_id: str,
    state: CaseState,
    cat: Catalogue,
    version: int,
    months: dict[str, MonthConsumption],
    counted: FactCounts,
) -> CaseSummary:
    """The summary of one case version from its state, consumption and counts."""
    moves: list[ScaleMove] = []
    previous = None
    for a in sorted(state.assignments, key=lambda a: (a.starts_on, a.source_version)):
        if previous is not None and (
            previous.withdrawn_on is not None
            or a.starts_on <= previous.until + timedelta(days=1)  # R-26 re-indication
        ):
            direction = _direction(cat, previous, a)
            if direction:
                moves.append(ScaleMove(a.starts_on, direction))
        previous = a
    if state.ended_on and state.destination in LIGHTER_ENDS:
        moves.append(ScaleMove(state.ended_on, "down"))
    if state.ended_on and state.destination in HEAVIER_ENDS:
        moves.append(ScaleMove(state.ended_on, "up"))
    evaluations = counted.evaluations
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for _, _, zrm in evaluations:
        for domain, score in zrm.items():
            first.setdefault(domain, score)
            last[domain] = score
    return CaseSummary(
        case_id=case_id,
        tenant=state.tenant,
        provider=state.provider,
        municipality=state.municipality,
        client_ref=state.client_ref,
        products=sorted({a.product for a in state.assignments}),
        referred_on=state.referred_on,
        intake_on=state.intake_on,
        decided_on=min((a.decided_on or a.starts_on for a in state.assignments), default=None),
        started_on=state.started_on,
        ended_on=state.ended_on,
        end_reason=state.end_reason,
        destination=state.destination,
        moves=moves,
        contacts=dict(counted.contacts),
        no_shows=dict(counted.no_shows),
        zrm_first=first if len(evaluations) >= 2 else {},
        zrm_last=last if len(evaluations) >= 2 else {},
        cost={k: m.amount_due for k, m in months.items()},
        version=version,
    )


def _direction(cat: Catalogue, old: Assignment, new: Assignment) -> str | None:
    lo, ln = _level(cat, old.product), _level(cat, new.product)
    if lo is not None and ln is not None and lo != ln:
        return "down" if ln < lo else "up"
    if old.product != new.product:
        return None
    wo, wn = weekly_minutes(old), weekly_minutes(new)
    if wo == wn:
        return None
    return "down" if wn < wo else "up"


# --- aggregation -------------------------------------------------------------------------


class Spread(msgspec.Struct, kw_only=True):
    median: float | None
    p90: float | None
    n: int


class Uitstroom(msgspec.Struct, kw_only=True):
    count: int
    successful: int
    rate_successful: float | None
    by_reason: dict[str, int]
    lasting: int
    rate_lasting: float | None
    lasting_pending: int = 0
    transfers: int = 0


class Doorlooptijd(msgspec.Struct, kw_only=True):
    referral_to_intake_days: Spread
    referral_to_indication_days: Spread
    indication_within_56_days_share: float | None
    indication_within_norm_share: float | None = None
    decision_norm_days: int = 56
    indication_to_start_days: Spread
    trajectory_days: Spread


class Rate(msgspec.Struct, kw_only=True):
    count: int
    rate: float | None


class Kpis(msgspec.Struct, kw_only=True):
    period_start: date
    period_end: date
    as_of: datetime | None
    cases: int
    uitstroom: Uitstroom
    doorlooptijd: Doorlooptijd
    afschaling: Rate
    opschaling: Rate
    no_show_rate: float | None
    zrm_progress: dict[str, float]
    cost: str
    cost_complete: bool
    filters: dict[str, str]


def _spread(counts: Counter[int]) -> Spread:
    """Median and p90 (nearest rank) of the values counted in ``counts`` (value -> how
    often): the same as over the values listed one by one, without listing them (a
    tenant's year at 100,000 cases counts some 50,000 durations per measure)."""
    n = sum(counts.values())
    if not n:
        return Spread(median=None, p90=None, n=0)
    ordered = sorted((v, c) for v, c in counts.items() if c)

    def kth(k: int) -> int:  # the k-th smallest value, from 0
        seen = 0
        for value, count in ordered:
            seen += count
            if k < seen:
                return value
        raise AssertionError("k beyond the counts")

    half = n // 2
    median = kth(half) if n % 2 else (kth(half - 1) + kth(half)) / 2
    return Spread(median=float(median), p90=float(kth(math.ceil(0.9 * n) - 1)), n=n)


def _mean(counts: Counter[int]) -> float:
    """The mean of the values counted in ``counts`` (``statistics.mean`` of them listed)."""
    return sum(v * c for v, c in counts.items()) / sum(counts.values())


def _ratio(a: int | float, b: int | float) -> float | None:
    return round(a / b, 4) if b else None


def in_scope(s: CaseSummary, start: date, end: date) -> bool:
    return s.referred_on <= end and (s.ended_on is None or s.ended_on >= start)


def aggregate(
    summaries: Iterable[CaseSummary],
    start: date,
    end: date,
    *,
    lasting_months: int = 12,
    decision_within_days: int = 56,
    every_case_of_tenant: Iterable[CaseSummary] | None = None,
    as_of: datetime | None = None,
    filters: dict[str, str] | None = None,
) -> Kpis:
    """KPIs over ``summaries`` (already filtered by tenant/provider/product/municipality).

    ``every_case_of_tenant`` is where returning clients are looked up for lasting outflow
    (a client may return with another provider); defaults to ``summaries``."""
    summaries = list(summaries)
    scope = [s for s in summaries if in_scope(s, start, end)]
    referrals: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for s in every_case_of_tenant if every_case_of_tenant is not None else summaries:
        referrals[s.client_ref].append((s.case_id, s.referred_on))

    def within(d: date | None) -> bool:
        return d is not None and start <= d <= end

    ended = [s for s in scope if within(s.ended_on)]
    outflow = classify_outflow(
        [(s.case_id, s.client_ref, s.referred_on, s.ended_on, s.end_reason) for s in ended],  # type: ignore[misc]
        referrals,
        lasting_months=lasting_months,
        reference=(as_of or clock.now()).date(),
    )
    t = Tally(cases=len(scope), outflow=outflow)
    t.to_intake = Counter(
        (s.intake_on - s.referred_on).days
        for s in scope
        if s.intake_on is not None and within(s.intake_on)
    )
    t.to_decision = Counter(
        (s.decided_on - s.referred_on).days
        for s in scope
        if s.decided_on is not None and within(s.decided_on)
    )
    t.to_start = Counter(
        (s.started_on - s.decided_on).days  # type: ignore[operator]
        for s in scope
        if within(s.started_on) and s.decided_on is not None
    )
    t.trajectory = Counter(
        (s.ended_on - s.started_on).days  # type: ignore[operator]
        for s in ended
        if s.started_on is not None
    )
    t.downs = sum(1 for s in scope for m in s.moves if m.direction == "down" and within(m.day))
    t.ups = sum(1 for s in scope for m in s.moves if m.direction == "up" and within(m.day))

    first_key = f"{start.year:04d}-{start.month:02d}"
    last_key = f"{end.year:04d}-{end.month:02d}"

    def months(d: dict[str, int]) -> int:
        return sum(v for k, v in d.items() if first_key <= k <= last_key)

    t.no_shows = sum(months(s.no_shows) for s in scope)
    t.contacts = sum(months(s.contacts) for s in scope)
    for s in scope:
        for domain, score in s.zrm_last.items():
            if domain in s.zrm_first:
                t.progress[domain][score - s.zrm_first[domain]] += 1
    for s in scope:
        for key, amount in s.cost.items():
            if not first_key <= key <= last_key:  # months overlapping the period ("YYYY-MM")
                continue
            if amount is None:
                t.cost_complete = False
            else:
                t.cost += Decimal(amount)
    return document(t, start, end, decision_within_days, as_of, filters)


class Outflow(msgspec.Struct, kw_only=True):
    """The ends of a period classified for R-31."""

    count: int = 0
    reasons: Counter[str] = msgspec.field(default_factory=Counter)
    lasting: int = 0
    pending: int = 0
    transfers: int = 0
    window_passed: int = 0


def classify_outflow(
    ended: Iterable[tuple[str, str, date, date, str | None]],
    referrals: dict[str, list[tuple[str, date]]],
    *,
    lasting_months: int,
    reference: date,
) -> Outflow:
    """R-31 for ends ``(case_id, client_ref, referred_on, ended_on, end_reason)``, with the
    tenant's referrals per client (``(case_id, referred_on)``) as known at the reference."""
    out = Outflow()
    for case_id, client_ref, referred_on, ended_on, reason in ended:
        out.count += 1
        out.reasons[reason or "?"] += 1
        horizon = add_months(ended_on, lasting_months)
        others = [r for cid, r in referrals.get(client_ref, ()) if cid != case_id]
        passed = horizon <= reference
        out.window_passed += passed
        if reason == "38" or any(referred_on <= r <= ended_on for r in others):
            out.transfers += 1
        elif any(ended_on < r <= horizon for r in others):
            pass  # the client returned within the window
        elif passed:
            out.lasting += 1
        else:
            out.pending += 1
    return out


class Tally(msgspec.Struct, kw_only=True):
    """What the KPI document of a period is computed from (by either path: summaries or
    the pre-aggregated rows of ``projections.kpi_cells``)."""

    cases: int
    outflow: Outflow
    #: durations in days, counted by value (a histogram: median and p90 are exact from it)
    to_intake: Counter[int] = msgspec.field(default_factory=Counter)
    to_decision: Counter[int] = msgspec.field(default_factory=Counter)
    to_start: Counter[int] = msgspec.field(default_factory=Counter)
    trajectory: Counter[int] = msgspec.field(default_factory=Counter)
    downs: int = 0
    ups: int = 0
    no_shows: int = 0
    contacts: int = 0
    #: ZRM changes per domain, counted by value
    progress: defaultdict[str, Counter[int]] = msgspec.field(
        default_factory=lambda: defaultdict(Counter)
    )
    cost: Decimal = Decimal(0)
    cost_complete: bool = True


def document(
    t: Tally,
    start: date,
    end: date,
    decision_within_days: int,
    as_of: datetime | None,
    filters: dict[str, str] | None,
) -> Kpis:
    o = t.outflow
    successful = o.reasons.get("19", 0)
    within_norm = _ratio(
        sum(n for d, n in t.to_decision.items() if d <= decision_within_days),
        sum(t.to_decision.values()),
    )
    return Kpis(
        period_start=start,
        period_end=end,
        as_of=as_of,
        cases=t.cases,
        uitstroom=Uitstroom(
            count=o.count,
            successful=successful,
            rate_successful=_ratio(successful, o.count),
            by_reason=dict(sorted(o.reasons.items())),
            lasting=o.lasting,
            rate_lasting=_ratio(o.lasting, o.window_passed),
            lasting_pending=o.pending,
            transfers=o.transfers,
        ),
        doorlooptijd=Doorlooptijd(
            referral_to_intake_days=_spread(t.to_intake),
            referral_to_indication_days=_spread(t.to_decision),
            # the older name, kept for readers: it follows the catalogue's norm as well
            indication_within_56_days_share=within_norm,
            indication_within_norm_share=within_norm,
            decision_norm_days=decision_within_days,
            indication_to_start_days=_spread(t.to_start),
            trajectory_days=_spread(t.trajectory),
        ),
        afschaling=Rate(count=t.downs, rate=_ratio(t.downs, t.cases)),
        opschaling=Rate(count=t.ups, rate=_ratio(t.ups, t.cases)),
        no_show_rate=_ratio(t.no_shows, t.no_shows + t.contacts),
        zrm_progress={d: round(_mean(v), 3) for d, v in sorted(t.progress.items()) if v},
        cost=str(t.cost.quantize(Decimal("0.01"))),
        cost_complete=t.cost_complete,
        filters=filters or {},
    )
