"""Lifecycle rules: small pure ``check_*`` functions that refuse a fact with its rule id.

R-xx ids come from shared/DOMAIN.md; C-xx ids are caselog's own lifecycle rules, listed in
docs/rules.md. Soft rules about money and reporting (R-11, R-16, declarability, R-14/R-15/R-18
signals) never refuse a fact here: the projections classify them.

Each kind of fact has one check named after what it guards (``check_intake``,
``check_care_start``, ...), registered in ``CHECK_FOR_FACT`` by ``@checks``; ``check_fact``
dispatches to it. ``domain/rule_index.py`` reads the rule ids each check raises from this
module's source, so the list of rules checked per event is never kept by hand.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, TypeVar

from domain import facts as f
from domain.catalogue import Catalogue, Product
from domain.errors import InvalidValue, RuleViolation
from domain.state import CaseState, Entry, OpenRequest, is_timely_cancellation
from domain.values import ZRM_DOMAINS, Actor, Goal, Volume

MAX_MINUTES_PER_DAY = 24 * 60


def add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- single-value checks ---------------------------------------------------------------


def check_goals(goals: list[Goal]) -> None:
    for g in goals:
        if g.domain not in ZRM_DOMAINS:
            raise InvalidValue("R-24", f"unknown ZRM domain {g.domain!r}", "goals")


def check_zrm_scores(zrm: dict[str, int]) -> None:
    for domain, score in zrm.items():
        if domain not in ZRM_DOMAINS:
            raise InvalidValue("R-24", f"unknown ZRM domain {domain!r}", f"zrm.{domain}")
        if not 1 <= score <= 5:
            raise InvalidValue(
                "R-23", f"ZRM score {score} for {domain} is outside 1..5", f"zrm.{domain}"
            )


def check_contact_values(c: f.Contact) -> None:
    if not 1 <= c.minutes <= MAX_MINUTES_PER_DAY:
        raise InvalidValue(
            "C-06", f"minutes {c.minutes} must be 1..{MAX_MINUTES_PER_DAY}", "minutes"
        )
    if c.professionals < 1 or c.participants < 1:
        raise InvalidValue(
            "C-06", "professionals and participants must be at least 1", "participants"
        )
    if c.kind != "group" and c.participants != 1:
        raise InvalidValue(
            "C-06", "participants other than 1 only for group contacts (R-12)", "participants"
        )


def check_span(starts_on: date, ends_on: date, field: str = "ends_on") -> None:
    """C-06: a body whose own dates contradict each other is an invalid value (422 naming
    the field), not a lifecycle refusal."""
    if ends_on < starts_on:
        raise InvalidValue("C-06", f"{field} {ends_on} is before starts_on {starts_on}", field)


def check_product(
    cat: Catalogue, code: str, on: date, volume: Volume, *, surcharge: bool
) -> Product:
    """The product exists for the tenant on that date (C-03, or its own rule such as R-04),
    takes the volume's unit (C-03) and allows a surcharge (R-01)."""
    product = cat.product(code, on)
    if not volume.amount > 0:
        raise InvalidValue(
            "C-06", f"volume amount must be positive, not {volume.amount}", "volume.amount"
        )
    if volume.unit not in product.units:
        raise InvalidValue(
            "C-03",
            f"{code} takes volume in {'/'.join(product.units)}, not {volume.unit}",
            "volume.unit",
        )
    if surcharge and not product.surcharge_allowed:
        raise RuleViolation("R-01", f"{code} carries no surcharge (opslag)")
    return product


def check_duration(product: Product, starts_on: date, ends_on: date) -> None:
    """C-04 order and C-05 the product's duration limits (02A03 1-12 months, 02A04/02A05 at
    most 12 months per allocation)."""
    if ends_on < starts_on:
        raise RuleViolation("C-04", f"ends_on {ends_on} is before starts_on {starts_on}")
    if product.max_months and ends_on > add_months(starts_on, product.max_months) - timedelta(1):
        raise RuleViolation(
            "C-05", f"{product.code} runs at most {product.max_months} months per allocation"
        )
    if product.min_months and ends_on < add_months(starts_on, product.min_months) - timedelta(1):
        raise RuleViolation("C-05", f"{product.code} runs at least {product.min_months} month(s)")


def check_segment(cat: Catalogue, state: CaseState, product: Product) -> None:
    """R-08: a case on an MO product stays on MO products."""
    if not state.assignments:
        return
    prev = cat.product_any(state.assignments[-1].product)
    if prev and prev.segment == "mo" and product.segment != "mo":
        raise RuleViolation(
            "R-08", f"an IB MO client stays on MO products; {product.code} is not one"
        )


# --- lifecycle checks --------------------------------------------------------------------


def check_not_ended(state: CaseState, what: str) -> None:
    if state.ended_on is not None:
        raise RuleViolation(
            "C-01", f"the case ended on {state.ended_on}; {what} needs a correction instead"
        )


def check_dated_within_case(state: CaseState, day: date, what: str) -> None:
    """C-01: after the end only late registrations of what happened up to the end."""
    if day < state.referred_on:
        raise RuleViolation("C-04", f"{what} on {day} is before the referral ({state.referred_on})")
    if state.ended_on is not None and day > state.ended_on:
        raise RuleViolation("C-01", f"{what} on {day} is after the end ({state.ended_on})")


def check_within_care(state: CaseState, day: date, what: str) -> None:
    """R-20 no care without a decision; C-02 care facts only within start..end of care."""
    if not state.assignments:
        raise RuleViolation("R-20", f"no {what} before an indication (beschikking) exists")
    if state.started_on is None:
        raise RuleViolation("C-02", f"{what} before care has started")
    if day < state.started_on:
        raise RuleViolation("C-02", f"{what} on {day} is before care started ({state.started_on})")
    check_dated_within_case(state, day, what)


def check_consistent(state: CaseState, before: CaseState | None = None) -> None:
    """Invariants a corrected history must still satisfy. ``before``: the state without
    the correction; a start before the decision date that it already had (a legacy
    decision date the old service took from its recording clock, docs/events.md) is not
    the correction's doing and does not block it."""
    if state.started_on is not None:
        if not state.assignments:
            raise RuleViolation("R-20", "care started without an indication")
        if state.started_on < min(a.starts_on for a in state.assignments):
            raise RuleViolation("R-20", "care starts before the indication starts")
        first = state.assignment_on(state.started_on)
        if first is not None and first.decided_on and state.started_on < first.decided_on:
            had = before.assignment_on(before.started_on) if before and before.started_on else None
            if not (
                before is not None
                and before.started_on == state.started_on
                and had is not None
                and had.decided_on == first.decided_on
            ):
                raise RuleViolation("R-20", f"care starts before the decision ({first.decided_on})")
    if state.ended_on is not None and state.ended_on < (state.started_on or state.referred_on):
        raise RuleViolation("C-04", "the end lies before the start of care")


# --- one check per kind of fact, named after what it guards ----------------------------------

_FactT = TypeVar("_FactT", bound=f.Fact)
FactCheck = Callable[[Catalogue, CaseState, Any], None]

#: The check each kind of fact passes before it is recorded (filled by ``@checks``).
CHECK_FOR_FACT: dict[type[f.Fact], FactCheck] = {}


def checks(
    kind: type[_FactT],
) -> Callable[
    [Callable[[Catalogue, CaseState, _FactT], None]],
    Callable[[Catalogue, CaseState, _FactT], None],
]:
    """Register the decorated function as the check of ``kind`` (one place per rule)."""

    def register(
        check: Callable[[Catalogue, CaseState, _FactT], None],
    ) -> Callable[[Catalogue, CaseState, _FactT], None]:
        CHECK_FOR_FACT[kind] = check
        return check

    return register


def check_fact(cat: Catalogue, state: CaseState, fact: f.Fact) -> None:
    """Refuse ``fact`` on ``state`` with the rule it breaks: the check of its kind. Pure."""
    check = CHECK_FOR_FACT.get(type(fact))
    if check is None:
        raise TypeError(f"no rule check for {type(fact).__name__}")
    check(cat, state, fact)


def check_referral(cat: Catalogue, referral: f.Referral) -> None:
    """C-03: a case opens for the catalogue's tenant and one of its municipalities."""
    if referral.tenant != cat.tenant:
        raise RuleViolation("C-03", f"the case belongs to {cat.tenant}")
    if referral.municipality not in cat.municipalities:
        raise RuleViolation(
            "C-03", f"{referral.municipality!r} is not a municipality of {cat.tenant}"
        )


@checks(f.Intake)
def check_intake(cat: Catalogue, state: CaseState, intake: f.Intake) -> None:
    """One intake per case (C-07), dated within the case (C-01, C-04)."""
    check_not_ended(state, "an intake")
    check_dated_within_case(state, intake.held_on, "the intake")
    if state.intake_on is not None:
        raise RuleViolation("C-07", f"the intake was held on {state.intake_on} already")


def _check_new_assignment(
    cat: Catalogue, state: CaseState, fact: f.Indication | f.AwbzConversion
) -> None:
    """What an indication and a converted AWBZ indication share: a known product valid on
    its start (C-03, R-04), its duration (C-04, C-05), the segment (R-08), a new number."""
    check_not_ended(state, "an indication")
    check_span(fact.starts_on, fact.ends_on)
    product = check_product(
        cat, fact.product, fact.starts_on, fact.volume, surcharge=fact.surcharge
    )
    check_duration(product, fact.starts_on, fact.ends_on)
    check_segment(cat, state, product)
    if any(a.assignment_number == fact.assignment_number for a in state.assignments):
        raise RuleViolation(
            "C-07", f"assignment {fact.assignment_number} exists; correct or extend it"
        )


@checks(f.Indication)
def check_indication(cat: Catalogue, state: CaseState, indication: f.Indication) -> None:
    """A new assignment with known goal domains (R-24), decided after the referral (C-04)."""
    _check_new_assignment(cat, state, indication)
    check_goals(indication.goals)
    if indication.decided_on < state.referred_on:
        raise RuleViolation("C-04", "decided before the referral")


@checks(f.AwbzConversion)
def check_awbz_conversion(cat: Catalogue, state: CaseState, conversion: f.AwbzConversion) -> None:
    """A new assignment whose product follows the conversion table (R-05)."""
    _check_new_assignment(cat, state, conversion)
    check_conversion(cat, conversion)


@checks(f.SupportPlan)
def check_support_plan(cat: Catalogue, state: CaseState, plan: f.SupportPlan) -> None:
    """Based on an indication (R-22), with known goal domains (R-24)."""
    check_not_ended(state, "a support plan")
    check_dated_within_case(state, plan.agreed_on, "the support plan")
    if not state.assignments:
        raise RuleViolation("R-22", "the support plan is based on an indication")
    check_goals(plan.goals)


@checks(f.CareStart)
def check_care_start(cat: Catalogue, state: CaseState, start: f.CareStart) -> None:
    """Care starts once (C-07), under an indication in force, not before its decision (R-20)."""
    check_not_ended(state, "a start of care")
    if state.started_on is not None:
        raise RuleViolation("C-07", f"care started on {state.started_on} already")
    if not state.assignments:
        raise RuleViolation("R-20", "care may start only after a decision exists")
    running = state.assignment_on(start.started_on)
    if running is None:
        raise RuleViolation("R-20", f"no indication is in force on {start.started_on}")
    if running.decided_on is not None and start.started_on < running.decided_on:
        raise RuleViolation(
            "R-20",
            f"care may start only after the decision: {start.started_on} is before "
            f"the decision date {running.decided_on}",
        )


@checks(f.Contact)
def check_contact(cat: Catalogue, state: CaseState, contact: f.Contact) -> None:
    """Possible minutes and headcounts (C-06), within care (C-02, R-20)."""
    check_contact_values(contact)
    check_within_care(state, contact.occurred_on, "a contact")


@checks(f.NoShow)
def check_no_show(cat: Catalogue, state: CaseState, no_show: f.NoShow) -> None:
    """Instants with an offset, a cancellation before the appointment (C-06), within care
    (C-02), and the planned minutes a declarable no-show counts (R-13)."""
    if no_show.cancelled_at is not None and no_show.cancelled_at.tzinfo is None:
        raise InvalidValue("C-06", "cancelled_at needs a UTC offset", "cancelled_at")
    if no_show.scheduled_at.tzinfo is None:
        raise InvalidValue("C-06", "scheduled_at needs a UTC offset", "scheduled_at")
    if no_show.cancelled_at is not None and no_show.cancelled_at > no_show.scheduled_at:
        raise InvalidValue(
            "C-06", "cancelled_at lies after the appointment it cancels", "cancelled_at"
        )
    check_within_care(state, no_show.scheduled_at.date(), "a no-show")
    check_planned_minutes(cat, state, no_show)


@checks(f.Evaluation)
def check_evaluation(cat: Catalogue, state: CaseState, evaluation: f.Evaluation) -> None:
    """ZRM scores 1..5 on known domains (R-23, R-24), dated within the case (C-01, C-04)."""
    check_zrm_scores(evaluation.zrm)
    check_dated_within_case(state, evaluation.evaluated_on, "an evaluation")


@checks(f.End)
def check_end(cat: Catalogue, state: CaseState, end: f.End) -> None:
    """One end (C-01), not before the start of care or the referral (C-04)."""
    check_not_ended(state, "another end")
    start = state.started_on or state.referred_on
    if end.ended_on < start:
        raise RuleViolation("C-04", f"the end {end.ended_on} is before {start}")


def check_care_within_span(entries: Iterable[Entry], state: CaseState) -> None:
    """C-02 over the whole history: every contact and no-show that counts lies within
    start..end of care, so an end dated before recorded care, or a start of care taken
    back while care facts remain, is refused (correct or retract those first)."""
    for entry in entries:
        if entry.retracted or not isinstance(entry.fact, f.Contact | f.NoShow):
            continue
        what = f"the {entry.event_type} of version {entry.version} ({entry.occurred_on})"
        if state.started_on is None or entry.occurred_on < state.started_on:
            raise RuleViolation("C-02", f"{what} would lie before the start of care")
        if state.ended_on is not None and entry.occurred_on > state.ended_on:
            raise RuleViolation("C-02", f"{what} would lie after the end ({state.ended_on})")


def check_planned_minutes(cat: Catalogue, state: CaseState, ns: f.NoShow) -> None:
    """R-13: a no-show the product makes declarable (02A04 always, 02A05 up to the cap)
    counts its planned duration, so ``planned_minutes`` is required there (422 naming it).
    A cancellation in time is no no-show and needs none."""
    if ns.planned_minutes is not None or is_timely_cancellation(ns, cat.no_show_notice_hours):
        return
    running = state.assignment_on(ns.scheduled_at.date())
    product = cat.product_any(running.product) if running else None
    if product is not None and product.no_show in ("always", "capped"):
        raise InvalidValue(
            "R-13",
            f"a {product.code} no-show is declarable: planned_minutes (the planned length of "
            "the appointment) is required",
            "planned_minutes",
        )


def check_conversion(cat: Catalogue, fact: f.AwbzConversion) -> None:
    """R-05: the conversion table in force decides product and surcharge."""
    conv = cat.conversion
    if conv is None:
        raise RuleViolation("R-05", f"{cat.tenant} has no AWBZ conversion")
    if fact.converted_on != conv.effective_on:
        raise RuleViolation("R-05", f"the technical conversion is dated {conv.effective_on}")
    expected = conv.low_product if fact.awbz_class <= conv.low_classes_up_to else conv.high_product
    surcharge = any(code in conv.surcharge_codes for code in fact.function_codes)
    if (fact.product, fact.surcharge) != (expected, surcharge):
        raise RuleViolation(
            "R-05", f"class {fact.awbz_class} converts to {expected} (surcharge {surcharge})"
        )


def convert_awbz(cat: Catalogue, awbz_class: int, function_codes: list[str]) -> tuple[str, bool]:
    """R-05 conversion outcome: (product, surcharge)."""
    conv = cat.conversion
    if conv is None:
        raise RuleViolation("R-05", f"{cat.tenant} has no AWBZ conversion")
    product = conv.low_product if awbz_class <= conv.low_classes_up_to else conv.high_product
    return product, any(code in conv.surcharge_codes for code in function_codes)


def _running(state: CaseState, what: str) -> None:
    check_not_ended(state, what)
    if state.current is None:
        raise RuleViolation("R-20", f"{what} needs a running indication")


@checks(f.ChangeRequest)
def check_change_request(cat: Catalogue, state: CaseState, req: f.ChangeRequest) -> None:
    """A running indication (R-20), the provider's report (R-19), a new request id (C-07),
    and a proposal the catalogue allows (C-05, C-06, and the scale change's rules)."""
    _running(state, "a change request")
    current = state.current
    assert current is not None
    if not req.report.strip():
        raise RuleViolation("R-19", "a change or extension needs the provider's report")
    if state.request(req.request_id) or req.request_id in state.decided_requests:
        raise RuleViolation("C-07", f"request {req.request_id} exists")
    if req.kind == "extension":
        if req.ends_on is None or req.ends_on <= current.ends_on:
            raise InvalidValue(
                "C-06", f"an extension needs ends_on after {current.ends_on}", "ends_on"
            )
        check_extension_limits(cat, state, req.ends_on)
    else:
        if req.product is None and req.volume is None:
            raise InvalidValue("C-06", f"a {req.kind} proposes a product or a volume", "volume")
        check_scale_change(
            cat,
            state,
            f.ScaleChange(
                effective_on=req.effective_on,
                product=req.product or current.product,
                volume=req.volume or current.volume,
                surcharge=current.surcharge if req.surcharge is None else req.surcharge,
            ),
        )


@checks(f.ScaleChange)
def check_scale_change(cat: Catalogue, state: CaseState, sc: f.ScaleChange) -> None:
    """Within the running assignment (C-04), a product allowed then (C-03, R-01, R-08),
    within the product's duration (C-05)."""
    _running(state, "a scale change")
    current = state.current
    assert current is not None
    if not current.starts_on < sc.effective_on <= current.ends_on:
        raise RuleViolation(
            "C-04",
            f"a scale change takes effect after {current.starts_on} and by {current.ends_on}",
        )
    product = check_product(cat, sc.product, sc.effective_on, sc.volume, surcharge=sc.surcharge)
    check_segment(cat, state, product)
    check_duration(product, sc.effective_on, current.ends_on)


def check_extension_limits(cat: Catalogue, state: CaseState, ends_on: date) -> None:
    current = state.current
    assert current is not None
    product = cat.product(current.product, current.starts_on)
    if product.extension == "none":
        raise RuleViolation("C-05", f"{product.code} cannot be extended")
    if product.extension == "within_max":
        first = min(
            (a.starts_on for a in state.assignments if a.product == current.product),
            default=current.starts_on,
        )
        check_duration(product, first, ends_on)
    elif product.max_months:
        # new_period: the extension opens a new allocation of at most max_months.
        check_duration(product, current.ends_on + timedelta(1), ends_on)


@checks(f.Extension)
def check_extension(cat: Catalogue, state: CaseState, ext: f.Extension) -> None:
    """The running assignment (C-07), a later end (C-06) the product allows (C-05)."""
    _running(state, "an extension")
    current = state.current
    assert current is not None
    if ext.assignment_number != current.assignment_number:
        raise RuleViolation("C-07", f"assignment {ext.assignment_number} is not the running one")
    if ext.ends_on <= current.ends_on:
        raise InvalidValue("C-06", f"an extension ends after {current.ends_on}", "ends_on")
    check_extension_limits(cat, state, ext.ends_on)


def check_replacement_kind(target: Entry, new: f.Fact) -> None:
    """C-07: a correction replaces a fact by one of the same kind."""
    if type(new) is not type(target.fact):
        raise RuleViolation(
            "C-07",
            f"version {target.version} holds a {type(target.fact).__name__}, "
            f"not a {type(new).__name__}",
        )


def check_correction_target(entries: list[Entry], version: int, actor: Actor) -> Entry:
    """C-07 the target exists, can be corrected and is not retracted; C-08 only the role
    that wrote an event corrects it."""
    target = next((e for e in entries if e.version == version), None)
    if target is None:
        raise RuleViolation("C-07", f"the case has no event version {version}")
    if not isinstance(target.fact, f.CORRECTABLE_TYPES):
        raise RuleViolation("C-07", f"{target.event_type} cannot be corrected or retracted")
    if target.retracted:
        raise RuleViolation("C-07", f"version {version} was retracted already")
    if actor.role != target.role and actor.role != "system":
        raise RuleViolation(
            "C-08",
            f"version {version} was written by a {target.role}; only a {target.role} corrects it",
        )
    return target


def check_change_decision(state: CaseState, decision: f.ChangeDecision) -> OpenRequest:
    """A decision answers an open request (C-07) of a case not ended (C-01), dated on or
    after the decision of the assignment it changes (C-04): a change is decided after
    what it changes was. Returns the request decided."""
    check_not_ended(state, "a decision")
    open_req = state.request(decision.request_id)
    if open_req is None:
        raise RuleViolation("C-07", f"no open change request {decision.request_id}")
    current = state.current
    floor = current.decided_on if current is not None and current.decided_on else None
    if floor is not None and decision.decided_on < floor:
        raise RuleViolation(
            "C-04",
            f"decided on {decision.decided_on}, before the assignment it changes was decided "
            f"({floor})",
        )
    return open_req
