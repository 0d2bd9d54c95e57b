"""Deterministic synthetic case histories: the demo data set and the benchmark generator.

Every case is built through the aggregate's own commands, so each event passes the same
rules as an API write; a generator bug shows up as a refusal, never as an impossible
history. Recorded instants are set from the business dates plus a small registration lag
(``domain.clock.recorded_at``), so time travel over the demo data answers "what was known
then" the way it would for a real case system.

The mix: both tenants, every product valid in the demo year (SDD IB0-IB4 and the IB MO
pilot, ZOU 02A03/02A04/02A05), a slice of 2016 SDD cases that exercises the 2016 prices and
four-week periods (R-02, R-03) and the AWBZ conversion (R-05), weekly contacts (some
indirect, digital and group), about 10% no-shows (some cancelled in time, R-13), quarterly
evaluations on the indicated ZRM domains, scale-downs and -ups through change requests,
ends with iWmo reasons, a few corrections and retractions, and clients who return.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from application.settings import configured_catalogues
from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue, Catalogues
from domain.clock import recorded_at
from domain.errors import RuleViolation
from domain.rules import add_months, convert_awbz
from domain.values import Actor, Goal, Volume

UTC = UTC

PROVIDERS = {
    "zou": ["aanbieder-a", "aanbieder-b", "aanbieder-c"],
    "drechtsteden": ["sdd-aanbieder-1", "sdd-aanbieder-2", "sdd-aanbieder-3"],
}
ZOU_PRODUCTS = ["02A03", "02A04", "02A05", "02A05"]
SDD_AMBULANT = ["IB0", "IB1", "IB1", "IB2", "IB2", "IB3"]
SDD_MO = ["IB4", "IB0-MO", "IB1-MO", "IB2-MO", "IB3-MO"]
LIGHTER = {"IB3": "IB2", "IB2": "IB1", "IB1": "IB0", "IB3-MO": "IB2-MO", "IB2-MO": "IB1-MO"}
HEAVIER = {v: k for k, v in LIGHTER.items()}
DOMAINS = [
    "financien",
    "huisvesting",
    "huiselijke_relaties",
    "geestelijke_gezondheid",
    "sociaal_netwerk",
    "tijdsbesteding",
    "middelengebruik",
    "instrumentele_adl",
]
END_REASONS = ["19"] * 11 + ["21", "22", "23", "23", "31", "38", "39", "02", "36"]


@dataclass(frozen=True)
class Scale:
    cases: int
    seed: int = 2022


SCALES = {
    "demo": Scale(300),
    "small": Scale(1_000),
    "medium": Scale(10_000),
    "large": Scale(100_000),
}


class _Writer:
    """Records facts on one case with monotonic recorded instants after their business date."""

    def __init__(self, rng: random.Random, cat: Catalogue, horizon: date) -> None:
        self.rng, self.cat, self.horizon = rng, cat, horizon
        self.last = datetime(1900, 1, 1, tzinfo=UTC)
        self.case: Case | None = None

    def instant(self, day: date) -> datetime:
        lag = timedelta(
            days=self.rng.choice((0, 0, 0, 1, 1, 2, 3)), minutes=self.rng.randint(0, 480)
        )
        at = max(datetime.combine(day, time(8), UTC) + lag, self.last + timedelta(seconds=1))
        self.last = at
        return at

    def open(self, actor: Actor, referral: f.Referral, case_id: UUID) -> None:
        with recorded_at(self.instant(referral.referred_on)):
            self.case = Case.open(actor, referral, self.cat, case_id)

    def due(self, day: date) -> bool:
        return day <= self.horizon

    def record(self, actor: Actor, fact: f.Fact) -> None:
        assert self.case is not None
        with recorded_at(self.instant(fact.business_date())):
            self.case.record(actor, fact, self.cat)

    def decide(self, actor: Actor, decision: f.ChangeDecision) -> None:
        assert self.case is not None
        with recorded_at(self.instant(decision.decided_on)):
            self.case.decide_change(actor, decision, self.cat)

    def correct(self, actor: Actor, fix: f.Correction | f.Retraction, day: date) -> None:
        assert self.case is not None
        with recorded_at(self.instant(day)):
            if isinstance(fix, f.Retraction):
                self.case.retract(actor, fix, self.cat)
            else:
                self.case.correct(actor, fix, self.cat)


def generate(cases: int, seed: int = 2022, catalogues: Catalogues | None = None) -> Iterator[Case]:
    """Yield ``cases`` case aggregates with their pending events, deterministically."""
    catalogues = catalogues or configured_catalogues()
    rng = random.Random(seed)
    returning: list[tuple[str, str, date]] = []
    for n in range(cases):
        tenant = "zou" if n % 2 == 0 else "drechtsteden"
        client = f"{tenant[:3]}-{n:07d}"
        referred = None
        if returning and rng.random() < 0.05:
            t, client, after = returning.pop(0)
            if t == tenant:
                referred = after + timedelta(days=rng.randint(30, 240))
            else:
                client = f"{tenant[:3]}-{n:07d}"
        yield _case(rng, catalogues.for_tenant(tenant), n, client, referred, returning)


def _case(
    rng: random.Random,
    cat: Catalogue,
    n: int,
    client: str,
    referred: date | None,
    returning: list[tuple[str, str, date]],
) -> Case:
    tenant = cat.tenant
    provider_name = rng.choice(PROVIDERS[tenant])
    gemeente = Actor(sub=f"consulent-{rng.randint(1, 9)}", role="municipality", tenant=tenant)
    aanbieder = Actor(
        sub=f"begeleider-{rng.randint(1, 30)}",
        role="provider",
        tenant=tenant,
        provider=provider_name,
    )
    legacy = tenant == "drechtsteden" and rng.random() < 0.15  # the 2016 slice
    year_start = date(2016, 1, 1) if legacy else date(2022, 1, 1)
    horizon = date(2017, 3, 31) if legacy else date(2023, 3, 31)
    w = _Writer(rng, cat, horizon)
    referred = referred or year_start + timedelta(days=rng.randint(0, 330))
    awbz = legacy and rng.random() < 0.3
    if awbz:
        referred = date(2015, 12, 1) + timedelta(days=rng.randint(0, 20))
    case_id = UUID(int=rng.getrandbits(128), version=4)
    w.open(
        gemeente,
        f.Referral(
            client_ref=client,
            tenant=tenant,
            municipality=rng.choice(cat.municipalities),
            provider=provider_name,
            referred_on=referred,
        ),
        case_id,
    )
    # intake within 2 weeks mostly; some late
    intake = referred + timedelta(
        days=rng.randint(15, 30) if rng.random() < 0.15 else rng.randint(2, 13)
    )
    domains = rng.sample(DOMAINS, rng.randint(2, 4))
    goals = [Goal(domain=d, result=f"zelfredzaam op {d}") for d in domains]
    if awbz:
        product, surcharge = convert_awbz(cat, rng.randint(1, 5), rng.choice([[], [], ["H152"]]))
        start = date(2016, 1, 1)
        ends = date(2016, 12, 31)
        volume = Volume(amount=Decimal(1), unit="piece_output", frequency="four_weeks")
        w.record(
            gemeente,
            f.AwbzConversion(
                converted_on=start,
                awbz_class=1 if product == "IB1" else 3,
                function_codes=["H152"] if surcharge else [],
                assignment_number=f"TW-{n:07d}",
                product=product,
                surcharge=surcharge,
                volume=volume,
                starts_on=start,
                ends_on=ends,
            ),
        )
        care_start = start
    else:
        if w.due(intake):
            w.record(aanbieder, f.Intake(held_on=intake))
        decided = referred + timedelta(
            days=rng.randint(57, 80) if rng.random() < 0.1 else rng.randint(7, 45)
        )
        if not w.due(decided):
            return _finish(w)
        product = _product(rng, cat, legacy)
        if not cat.product_any(product) or not cat.product_any(product).valid_on(decided):  # type: ignore[union-attr]
            product = "IB2"  # the MO pilot ended on 2022-12-31
        prod = cat.product(product, decided)
        surcharge = prod.surcharge_allowed and rng.random() < 0.15
        volume = _volume(rng, prod.financing, legacy)
        start = decided
        months = prod.max_months or 12
        if product == "02A03":
            months = rng.randint(3, 12)
        ends = add_months(start, months) - timedelta(days=1)
        w.record(
            gemeente,
            f.Indication(
                assignment_number=f"TW-{n:07d}",
                product=product,
                surcharge=surcharge,
                volume=volume,
                starts_on=start,
                ends_on=ends,
                decision_ref=f"BESCH-{n:07d}",
                goals=goals,
                decided_on=decided,
            ),
        )
        care_start = start + timedelta(days=rng.randint(0, 10))
    if not w.due(care_start):
        return _finish(w)
    w.record(aanbieder, f.CareStart(started_on=care_start))
    plan = care_start + timedelta(days=rng.randint(0, 14))
    if w.due(plan):
        w.record(aanbieder, f.SupportPlan(agreed_on=plan, goals=goals))
    planned_end = ends
    end_day: date | None = None
    if rng.random() < 0.7:
        span = max((planned_end - care_start).days, 70)
        end_day = min(care_start + timedelta(days=rng.randint(60, span)), planned_end)
    last_day = min(end_day or planned_end, horizon)
    scores = {d: rng.randint(2, 3) for d in domains}
    hourly = cat.product(product, start).financing == "hourly"
    scale_at = care_start + timedelta(days=rng.randint(100, 200)) if rng.random() < 0.3 else None
    day = care_start + timedelta(days=rng.randint(0, 6))
    week = 0
    first_contact: int | None = None
    while day <= last_day:
        week += 1
        if rng.random() < 0.10:
            appointment = datetime.combine(day, time(10), UTC)
            roll = rng.random()
            cancelled = (
                appointment - timedelta(hours=48)
                if roll < 0.15
                else appointment - timedelta(hours=3)
                if roll < 0.3
                else None
            )
            w.record(
                aanbieder,
                f.NoShow(
                    scheduled_at=appointment,
                    cancelled_at=cancelled,
                    planned_minutes=60 if hourly else None,  # declarable no-shows
                ),
            )
        else:
            contact = f.Contact(
                occurred_on=day,
                minutes=rng.choice((45, 60, 60, 90, 120)) if hourly else 60,
                kind="direct",
                channel="digital" if rng.random() < 0.2 else "in_person",
            )
            w.record(aanbieder, contact)
            if first_contact is None:
                first_contact = w.case.version if w.case else None
        if hourly and week % 3 == 0:
            w.record(
                aanbieder,
                f.Contact(occurred_on=day, minutes=rng.choice((15, 30, 45)), kind="indirect"),
            )
        if week % 8 == 0 and rng.random() < 0.5:
            w.record(
                aanbieder,
                f.Contact(
                    occurred_on=day,
                    minutes=90,
                    kind="group",
                    professionals=2,
                    participants=rng.randint(4, 10),
                ),
            )
        if week % 13 == 0:
            for d in scores:
                scores[d] = min(5, scores[d] + rng.choice((0, 0, 1)))
            w.record(aanbieder, f.Evaluation(evaluated_on=day, kind="periodic", zrm=dict(scores)))
        if scale_at is not None and day >= scale_at:
            # refused like a real request would be (e.g. the MO pilot ended, R-08)
            with contextlib.suppress(RuleViolation):
                _scale(rng, w, gemeente, aanbieder, day, n, legacy)
            scale_at = None
        day += timedelta(days=7)
    if first_contact is not None and rng.random() < 0.04:
        fix_day = min(last_day, care_start + timedelta(days=30))
        if rng.random() < 0.5:
            w.correct(
                aanbieder,
                f.Retraction(event_version=first_contact, reason="dubbel geregistreerd"),
                fix_day,
            )
        else:
            entry = w.case.entry(first_contact) if w.case else None
            if entry is not None and isinstance(entry.fact, f.Contact):
                fixed = f.Contact(
                    occurred_on=entry.fact.occurred_on,
                    minutes=entry.fact.minutes + 15,
                    kind=entry.fact.kind,
                    channel=entry.fact.channel,
                )
                w.correct(
                    aanbieder,
                    f.Correction(event_version=first_contact, replacement=fixed, reason="minuten"),
                    fix_day,
                )
    if end_day is not None and w.due(end_day):
        reason = rng.choice(END_REASONS)
        destination = (
            rng.choice(("none", "general_provision", "general_provision", "lighter_product"))
            if reason == "19"
            else {"38": "other_provider", "39": "other_domain"}.get(reason, "none")
        )
        w.record(
            aanbieder if rng.random() < 0.7 else gemeente,
            f.End(ended_on=end_day, reason=reason, destination=destination),  # type: ignore[arg-type]
        )
        returning.append((cat.tenant, w.case.state.client_ref if w.case else "", end_day))
    return _finish(w)


def _finish(w: _Writer) -> Case:
    assert w.case is not None
    return w.case


def _product(rng: random.Random, cat: Catalogue, legacy: bool) -> str:
    if cat.tenant == "zou":
        return rng.choice(ZOU_PRODUCTS)
    if legacy:
        return rng.choice(["IB1", "IB2", "IB2", "IB3"])
    return rng.choice(SDD_MO) if rng.random() < 0.25 else rng.choice(SDD_AMBULANT)


def _volume(rng: random.Random, financing: str, legacy: bool) -> Volume:
    if financing == "hourly":
        return Volume(
            amount=Decimal(rng.choice((2, 3, 4, 4, 5, 6, 8))), unit="hour", frequency="week"
        )
    return Volume(
        amount=Decimal(1), unit="piece_output", frequency="four_weeks" if legacy else "week"
    )


def _scale(
    rng: random.Random,
    w: _Writer,
    gemeente: Actor,
    aanbieder: Actor,
    day: date,
    n: int,
    legacy: bool,
) -> None:
    """A provider's scale request (R-19 report, R-25), mostly down, decided by the municipality."""
    assert w.case is not None
    state = w.case.state
    current = state.current
    if current is None or state.ended_on is not None or day + timedelta(days=21) > current.ends_on:
        return
    up = rng.random() < 0.25
    new_product, new_volume = current.product, current.volume
    if current.volume.unit == "hour":
        delta = Decimal(1) if up else Decimal(-1)
        amount = current.volume.amount + delta
        if amount < 1:
            return
        new_volume = Volume(amount=amount, unit="hour", frequency="week")
    else:
        new_product = (HEAVIER if up else LIGHTER).get(current.product, "")
        if not new_product or (new_product == "IB0" and legacy):
            return
    request_id = f"WV-{n:07d}"
    effective = day + timedelta(days=14)
    w.record(
        aanbieder,
        f.ChangeRequest(
            request_id=request_id,
            kind="scale_up" if up else "scale_down",
            product=new_product,
            volume=new_volume,
            effective_on=effective,
            report="doelen deels behaald; " + ("meer nodig" if up else "minder nodig, afschalen"),
        ),
    )
    granted = rng.random() < 0.85
    w.decide(
        gemeente,
        f.ChangeDecision(
            request_id=request_id,
            granted=granted,
            decided_on=day + timedelta(days=rng.randint(3, 12)),
            reason="akkoord" if granted else "onvoldoende onderbouwd",
            assignment_number=f"TW-{n:07d}-2" if granted else None,
        ),
    )


def demo_bsn(n: int) -> str:
    """A fictional BSN that passes the eleven-check (elfproef), deterministic per ``n``; the
    leading 9 keeps it in a range that real BSNs are not issued from today."""
    stem = 90_000_000 + (n * 7919) % 9_999_999
    while True:
        digits = [int(c) for c in f"{stem:08d}"]
        check = sum(d * (9 - i) for i, d in enumerate(digits)) % 11
        if check < 10:
            return f"{stem:08d}{check}"
        stem += 1


def register_demo_identities(views: Any) -> int:
    """Give every demo client a fictional identity in the encrypted client registry (R-33),
    so that iWmo messages and declarations can be built from the demo data. Clients that
    already have one are left alone."""
    from application.registry import ClientExists, ClientRegistry, Identity

    registry = ClientRegistry(views)
    clients = views.query("SELECT DISTINCT tenant, client_ref FROM case_summary ORDER BY 1, 2", ())
    added = 0
    for n, (tenant, client_ref) in enumerate(clients, start=1):
        identity = Identity(
            bsn=demo_bsn(n),
            name=f"Demo Client {n}",
            birth_date=date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
        )
        try:
            registry.register(str(tenant), str(client_ref), identity)
            added += 1
        except ClientExists:
            continue
    return added
