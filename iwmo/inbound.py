"""Inbound iWmo messages become commands on the case aggregate, answered by a retour.

Each message part is judged first against the case as it stands (in memory, nothing
saved): the iWmo checks that have their own retour code, then the aggregate's own rules by
running the very commands the JSON API runs (``Case.record``, ``decide_change``,
``retract``, ``correct``). A refused part gets its code and writes nothing; the accepted
parts of one client are then saved together through ``CaseLog.record_together`` (one unit:
all or nothing). The unit carries a request key made of the message's Afzender and
Identificatie, so a resend after a crash between apply and answer applies nothing again.

Mapping (docs/iwmo.md has the table): 301 -> IndicationGranted / ScaleChanged (a new
ToewijzingNummer while one runs: afschaling or opschaling) / IndicationExtended /
EventRetracted (RedenWijziging 13) / EventCorrected (14, or a change in place);
305 -> CareStarted (StatusAanlevering 3: EventRetracted); 307 -> CaseEnded (reason 20:
paused, see docs) (3: EventRetracted); 315 -> CaseOpened by the provider's request;
317 -> ChangeRequested; 319 -> ChangeDecided refused (1) or nothing (2: under
investigation); a 315 refused by a 319 ends the referral (CaseEnded, reason 36).

Identity: the BSN, name and birth date go to the encrypted client registry; the events
carry only ``client_ref``, found through a keyed digest of the BSN (``iwmo_client``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
import structlog

from caselog.application import CaseLog
from caselog.registry import ClientErased, ClientExists, ClientRegistry, Identity
from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import CaseNotFound, DomainError
from domain.rules import add_months
from domain.state import CaseState
from domain.values import FREQUENCY_CODES, UNIT_CODES, Actor, Volume
from iwmo import codec, parties, writes
from iwmo import messages as m
from iwmo import retour as r
from projections.store import ViewStore

log = structlog.get_logger("caselog.iwmo")

Step = Callable[[Case, Catalogue, Actor], None]
UNITS = {v: k for k, v in UNIT_CODES.items()}
FREQUENCIES = {v: k for k, v in FREQUENCY_CODES.items()}
#: RedenBeeindiging -> where the client goes (the JSON API's ``destination``).
DESTINATIONS = {"38": "other_provider", "39": "other_domain"}
#: Lifecycle rules whose refusal has a retour code of its own; any other rule: 0001.
RULE_CODES = {"R-20": r.NOT_LINKED}


class Refused(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or r.MEANING.get(code, code))
        self.code = code


@dataclass
class Message:
    """One inbound message in caselog's terms."""

    actor: Actor
    cat: Catalogue
    message: m.Bericht
    municipality: str
    provider: str
    today: date

    @property
    def key(self) -> str:
        header = self.message.header  # type: ignore[attr-defined]
        return f"iwmo:{header.afzender}:{header.bericht_identificatie.identificatie}"

    @property
    def dagtekening(self) -> date:
        return self.message.header.bericht_identificatie.dagtekening  # type: ignore[attr-defined]


@dataclass
class Unit:
    """The accepted parts of one client on one case, saved together."""

    case_id: UUID
    case: Case
    referral: f.Referral | None = None
    steps: list[Step] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    seen: bool = False  # the unit was applied before (a resend after a crash)


def volume_of(omvang: m.Omvang | None) -> Volume:
    if omvang is None:
        raise Refused(r.TECHNICAL, "a Budget (euros) is not supported; an Omvang is needed")
    unit = UNITS.get(omvang.eenheid)
    frequency = FREQUENCIES.get(omvang.frequentie)
    if unit is None or frequency is None:
        raise Refused(r.TECHNICAL, f"Eenheid {omvang.eenheid} has no caselog unit")
    return Volume(amount=Decimal(omvang.volume), unit=unit, frequency=frequency)


class Inbound:
    """Applies inbound messages for one application and view store."""

    def __init__(self, app: CaseLog, views: ViewStore, pseudonym_key: bytes) -> None:
        self.app = app
        self.views = views
        self.key = pseudonym_key
        self.registry = ClientRegistry(views)

    # --- entry point ---------------------------------------------------------------------
    def receive(self, actor: Actor, message: m.Bericht, today: date) -> m.Retour | m.Wmo325:
        """Judge and apply ``message`` (sent by ``actor``, checked by parties.check_sender)
        and return its retour (for a WMO323: the WMO325 declaration answer)."""
        cat = self.app.catalogues.for_tenant(actor.tenant)
        header = message.header  # type: ignore[attr-defined]
        if header.bericht_identificatie.dagtekening > today:
            return refusal(message, r.DAGTEKENING_IN_FUTURE, today)
        sender_is_municipality = m.KINDS[message.KIND][1] == "municipality"
        gemeente = header.afzender if sender_is_municipality else header.ontvanger
        agb = header.ontvanger if sender_is_municipality else header.afzender
        municipality = parties.municipality(cat, gemeente)
        provider = actor.provider if not sender_is_municipality else parties.provider(cat, agb)
        for code, missing in ((r.UNKNOWN_GEMEENTE, municipality), (r.TECHNICAL, provider)):
            if missing is None:
                return refusal(message, code, today)
        assert municipality is not None
        assert provider is not None
        msg = Message(actor, cat, message, municipality, provider, today)
        if isinstance(message, m.Wmo323):
            return self._wmo323(msg, message)
        if isinstance(message, m.Wmo325):
            return self._wmo325(msg, message)
        codes: dict[str, tuple[str, ...]] = {}
        handler = getattr(self, f"_{message.KIND}")
        handler(msg, codes)
        return r.build(message, today=today, codes=codes)

    # --- identity and lookups --------------------------------------------------------------
    def _digest(self, tenant: str, bsn: str) -> str:
        return hmac.new(self.key, f"{tenant}:{bsn}".encode(), hashlib.sha256).hexdigest()

    def client_ref(self, msg: Message, bsn: str, create: bool = True) -> str | None:
        """The pseudonymous client_ref of a BSN in this tenant. Unknown: a new one derived
        from the message (so a resend after a crash proposes the same), recorded by
        ``index`` once something was saved for the client."""
        tenant = msg.actor.tenant
        rows = self.views.query(
            "SELECT client_ref FROM iwmo_client WHERE tenant = ? AND bsn_digest = ?",
            (tenant, self._digest(tenant, bsn)),
        )
        if rows:
            return str(rows[0][0])
        if not create:
            return None
        return "c-" + uuid5(NAMESPACE_URL, f"caselog:{tenant}:{msg.key}:{bsn}").hex[:20]

    def register(self, msg: Message, client_ref: str, client: Any) -> None:
        """Put the message's identity of the client into the encrypted registry."""
        naam = client.naam
        if isinstance(naam, m.VolledigeNaam):
            first = naam.voornamen or naam.voorletters
            last = [naam.geslachtsnaam.voorvoegsel, naam.geslachtsnaam.achternaam]
        else:
            first = naam.voorletters
            last = [naam.voorvoegsel, naam.achternaam]
        name = " ".join(p for p in (first, *last) if p)
        identity = Identity(bsn=client.bsn, name=name, birth_date=client.geboortedatum.datum)
        with contextlib.suppress(ClientExists, ClientErased):
            self.registry.register(msg.actor.tenant, client_ref, identity)

    def case_for(self, tenant: str, kind: str, key: str) -> UUID | None:
        rows = self.views.query(
            "SELECT case_id FROM iwmo_case_key WHERE tenant = ? AND kind = ? AND key = ?",
            (tenant, kind, key),
        )
        if rows:
            return UUID(str(rows[0][0]))
        if kind == "assignment":  # granted through the JSON API: the entitlement projection
            rows = self.views.query(
                "SELECT case_id FROM entitlement WHERE tenant = ? AND assignment_number = ?",
                (tenant, key),
            )
        elif kind == "client":
            client_ref, _, provider = key.partition("|")
            rows = self.views.query(
                "SELECT case_id FROM case_summary WHERE tenant = ? AND client_ref = ? "
                "AND provider = ? AND status <> 'ended' ORDER BY referred_on DESC",
                (tenant, client_ref, provider),
            )
        return UUID(str(rows[0][0])) if rows else None

    def load(self, msg: Message, case_id: UUID) -> Case | None:
        try:
            return self.app.get_case(case_id, msg.actor)
        except CaseNotFound:
            return None

    def open_case(self, msg: Message, client_ref: str) -> UUID | None:
        case_id = self.case_for(msg.actor.tenant, "client", f"{client_ref}|{msg.provider}")
        if case_id is None:
            return None
        case = self.load(msg, case_id)
        return case_id if case is not None and case.state.ended_on is None else None

    # --- judging and saving --------------------------------------------------------------
    def unit_actor(self, msg: Message, unit_no: int) -> Actor:
        return msgspec.structs.replace(msg.actor, request_key=f"{msg.key}:{unit_no}")

    def new_unit(self, msg: Message, case_id: UUID, unit_no: int) -> Unit:
        case = self.load(msg, case_id)
        if case is None:
            raise Refused(r.NOT_LINKED)
        key = self.unit_actor(msg, unit_no).request_key
        return Unit(case_id=case_id, case=case, seen=key in case.requests)

    def fresh_unit(self, msg: Message, case_id: UUID, referral: f.Referral, unit_no: int) -> Unit:
        """A case this message opens. Found already: opened by this very message before a
        crash (seen), or the id was taken by another message (received before: 9074)."""
        existing = self.load(msg, case_id)
        if existing is not None:
            if self.unit_actor(msg, unit_no).request_key not in existing.requests:
                raise Refused(r.RECEIVED_BEFORE)
            return Unit(case_id=case_id, case=existing, seen=True)
        case = Case.open(msg.actor, referral, msg.cat, case_id)
        return Unit(case_id=case_id, case=case, referral=referral)

    def try_step(self, msg: Message, unit: Unit, path: str, step: Step) -> None:
        """Run ``step`` on the unit's in-memory case: accepted, it joins the unit."""
        keyless = msgspec.structs.replace(msg.actor, request_key=None)
        try:
            step(unit.case, msg.cat, keyless)
        except DomainError as refusal:
            code = RULE_CODES.get(refusal.rule, r.TECHNICAL)
            log.info("iwmo part refused", path=path, rule=refusal.rule, detail=str(refusal))
            raise Refused(code, str(refusal)) from None
        unit.steps.append(step)
        unit.paths.append(path)

    def save(self, msg: Message, unit: Unit, unit_no: int, codes: dict[str, Any]) -> bool:
        """Save the unit's accepted steps as one; on failure every one of its parts is
        refused (nothing was written)."""
        if unit.seen or (not unit.steps and unit.referral is None):
            return True
        actor = self.unit_actor(msg, unit_no)
        try:
            self.app.record_together(unit.case_id, actor, unit.steps, unit.referral)
        except DomainError as failure:
            log.warning("iwmo unit not saved", case_id=str(unit.case_id), detail=str(failure))
            for path in unit.paths:
                codes[path] = (r.TECHNICAL,)
            return False
        return True

    def index(self, msg: Message, unit: Unit, client_ref: str, bsn: str | None) -> None:
        """Record, in one transaction, how later messages find this unit's case: its
        assignment numbers, request references, the client + provider, and (``bsn``) the
        client's BSN digest."""
        tenant = msg.actor.tenant
        keys = [("assignment", number) for number in unit.assignments]
        keys += [("request", f"{msg.provider}|{ref}") for ref in unit.requests]
        keys.append(("client", f"{client_ref}|{msg.provider}"))
        statements: list[writes.Statement] = [
            (
                "INSERT INTO iwmo_case_key (tenant, kind, key, case_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, kind, key) DO UPDATE SET case_id = excluded.case_id",
                (tenant, kind, key, str(unit.case_id)),
            )
            for kind, key in keys
        ]
        if bsn is not None:
            statements.append(
                (
                    "INSERT INTO iwmo_client (tenant, bsn_digest, client_ref) VALUES (?, ?, ?) "
                    "ON CONFLICT (tenant, bsn_digest) DO NOTHING",
                    (tenant, self._digest(tenant, bsn), client_ref),
                )
            )
        writes.write(self.views, statements)

    def product(self, msg: Message, product: m.Product | None, on: date) -> str:
        if product is None or product.code is None:
            raise Refused(r.UNKNOWN_PRODUCT, "a product code is needed")
        found = msg.cat.product_for_iwmo(product.categorie, product.code, on)
        if found is None:
            raise Refused(r.UNKNOWN_PRODUCT)
        return str(found.code)

    def ends_on(self, msg: Message, product: str, starts_on: date, einddatum: date | None) -> date:
        """An assignment without Einddatum runs the product's longest allocation (or a year)."""
        if einddatum is not None:
            return einddatum
        spec = msg.cat.product_any(product)
        months = (spec.max_months if spec else None) or 12
        return add_months(starts_on, months) - timedelta(days=1)

    # --- WMO301 Toewijzing ---------------------------------------------------------------
    def _wmo301(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo301 = msg.message  # type: ignore[assignment]
        client = message.client
        tenant = msg.actor.tenant
        base = "/Bericht/Client/ToegewezenProducten/ToegewezenProduct"
        products = list(enumerate(client.toegewezen_producten, 1))
        client_ref = self.client_ref(msg, client.bsn)
        assert client_ref is not None
        case_id: UUID | None = None
        for n, p in products:
            if p.referentie_aanbieder is not None:
                found = self.case_for(tenant, "request", f"{msg.provider}|{p.referentie_aanbieder}")
                if found is None:
                    codes[f"{base}[{n}]"] = (r.REFERENTIE_UNKNOWN,)
                case_id = case_id or found
        for _, p in products:
            case_id = case_id or self.case_for(tenant, "assignment", p.toewijzing_nummer)
        case_id = case_id or self.open_case(msg, client_ref)
        if case_id is None:
            first = min(p.toewijzingsdatum for _, p in products)
            referral = f.Referral(
                client_ref=client_ref,
                tenant=tenant,
                municipality=msg.municipality,
                provider=msg.provider,
                referred_on=min(first, msg.dagtekening),
            )
            case_id = uuid5(NAMESPACE_URL, f"caselog:{tenant}:{msg.key}:case")
            unit = self.fresh_unit(msg, case_id, referral, 1)
        else:
            unit = self.new_unit(msg, case_id, 1)
        if unit.case.state.client_ref != client_ref:
            for n, _ in products:
                codes.setdefault(f"{base}[{n}]", (r.TOEWIJZING_NOT_UNIQUE,))
            return
        if unit.seen:  # applied before a crash: answer as then
            for n, p in products:
                codes.setdefault(f"{base}[{n}]", (r.ACCEPTED,))
                unit.assignments.append(p.toewijzing_nummer)
            self.index(msg, unit, client_ref, client.bsn)
            return
        # New numbers first (in start order), then changes to known ones: a shortened old
        # assignment is then seen against the scale change that withdrew it.
        known = {a.assignment_number for a in unit.case.state.assignments}
        order = sorted(
            (p for p in products if p[1].toewijzing_nummer not in known),
            key=lambda np: (np[1].ingangsdatum, np[1].toewijzingsdatum, np[1].toewijzingstijd),
        ) + sorted(
            (p for p in products if p[1].toewijzing_nummer in known),
            key=lambda np: (np[1].toewijzingsdatum, np[1].toewijzingstijd),
        )
        for n, p in order:
            path = f"{base}[{n}]"
            if path in codes:
                continue
            try:
                other = self.case_for(tenant, "assignment", p.toewijzing_nummer)
                if other is not None and other != unit.case_id:
                    raise Refused(r.TOEWIJZING_NOT_UNIQUE)
                step = self.assignment_step(msg, unit.case, p)
                if step is not None:
                    self.try_step(msg, unit, path, step)
                unit.assignments.append(p.toewijzing_nummer)
                if p.referentie_aanbieder:
                    unit.requests.append(p.referentie_aanbieder)
                codes[path] = (r.ACCEPTED,)
            except Refused as refusal:
                codes[path] = (refusal.code,)
        if not unit.assignments:
            return
        if self.save(msg, unit, 1, codes):
            self.index(msg, unit, client_ref, client.bsn)
            self.register(msg, client_ref, client)

    def assignment_step(self, msg: Message, case: Case, p: m.ToegewezenProduct) -> Step | None:
        """The command a ToegewezenProduct implies for the case (None: nothing changed)."""
        state = case.state
        number = p.toewijzing_nummer
        existing = next((a for a in state.assignments if a.assignment_number == number), None)
        reason = f"iWmo 301 RedenWijziging {p.reden_wijziging}" if p.reden_wijziging else ""
        if existing is None:
            product = self.product(msg, p.product, p.ingangsdatum)
            volume = volume_of(p.omvang)
            ends_on = self.ends_on(msg, product, p.ingangsdatum, p.einddatum)
            current = state.current
            if current is not None and state.ended_on is None:
                # A new number while one runs: op- of afschaling.
                change = f.ScaleChange(
                    effective_on=p.ingangsdatum,
                    product=product,
                    volume=volume,
                    reason=reason or f"iWmo 301 ToewijzingNummer {number}",
                    assignment_number=number,
                    decided_on=p.toewijzingsdatum,
                )
                extend = ends_on > current.ends_on
                extension = f.Extension(
                    assignment_number=number,
                    ends_on=ends_on,
                    decided_on=p.toewijzingsdatum,
                    reason=reason,
                )

                def scale(case: Case, cat: Catalogue, actor: Actor) -> None:
                    case.record(actor, change, cat)
                    if extend:
                        case.record(actor, extension, cat)

                return scale
            grant = f.Indication(
                assignment_number=number,
                product=product,
                volume=volume,
                starts_on=p.ingangsdatum,
                ends_on=ends_on,
                decision_ref=f"iwmo-{number}",
                decided_on=p.toewijzingsdatum,
            )
            return lambda case, cat, actor: case.record(actor, grant, cat)
        if p.reden_wijziging == "13":  # verwijderd: the assignment never counted
            retraction = f.Retraction(event_version=existing.source_version, reason=reason)
            return lambda case, cat, actor: case.retract(actor, retraction, cat)
        product = (
            self.product(msg, p.product, p.ingangsdatum)
            if p.product is not None
            else existing.product
        )
        volume = volume_of(p.omvang) if p.omvang is not None else existing.volume
        ends_on = p.einddatum or existing.ends_on
        same_content = (
            product == existing.product
            and volume == existing.volume
            and p.ingangsdatum == existing.starts_on
        )
        if same_content and ends_on in (existing.ends_on, existing.until):
            return None  # repeated as the standard asks (all current assignments)
        if same_content and ends_on > existing.ends_on and p.reden_wijziging != "14":
            extension = f.Extension(
                assignment_number=number,
                ends_on=ends_on,
                decided_on=p.toewijzingsdatum,
                reason=reason,
            )
            return lambda case, cat, actor: case.record(actor, extension, cat)
        in_place = p.reden_wijziging == "14" or (
            p.omvang is not None and p.omvang.frequentie == "6"
        )
        if not same_content and not in_place:
            raise Refused(r.TECHNICAL, "a changed volume needs a new ToewijzingNummer")
        replacement = _replacement(case, existing.source_version, product, volume, p, ends_on)
        if replacement is None or (
            isinstance(replacement, f.ScaleChange) and ends_on != existing.ends_on
        ):
            raise Refused(r.TECHNICAL, "this assignment cannot be corrected in place")
        correction = f.Correction(
            event_version=existing.source_version,
            replacement=replacement,
            reason=reason or "iWmo 301 administratieve correctie",
        )
        return lambda case, cat, actor: case.correct(actor, correction, cat)

    # --- WMO305 Start zorg / WMO307 Stop zorg ----------------------------------------------
    def _delivery_case(self, msg: Message, client_ref: str | None, number: str | None) -> UUID:
        tenant = msg.actor.tenant
        case_id = self.case_for(tenant, "assignment", number) if number else None
        if case_id is None and client_ref is not None:
            case_id = self.open_case(msg, client_ref)
        if case_id is None:
            raise Refused(r.NOT_LINKED)
        return case_id

    def _deliveries(
        self,
        msg: Message,
        codes: dict[str, tuple[str, ...]],
        base: str,
        items: list[Any],
        step_for: Callable[[Case, Any], Step],
    ) -> None:
        client = msg.message.client  # type: ignore[attr-defined]
        client_ref = self.client_ref(msg, client.bsn, create=False)
        units: dict[UUID, Unit] = {}
        for n, item in enumerate(items, 1):
            path = f"{base}[{n}]"
            try:
                case_id = self._delivery_case(msg, client_ref, item.toewijzing_nummer)
                unit = units.get(case_id)
                if unit is None:
                    unit = units[case_id] = self.new_unit(msg, case_id, len(units) + 1)
                if unit.case.state.client_ref != client_ref and client_ref is not None:
                    raise Refused(r.NOT_LINKED, "the assignment is another client's")
                state = unit.case.state
                if item.toewijzing_nummer is not None:
                    number = item.toewijzing_nummer
                    match = [a for a in state.assignments if a.assignment_number == number]
                    if not match or (
                        item.toewijzing_ingangsdatum is not None
                        and match[0].starts_on != item.toewijzing_ingangsdatum
                    ):
                        raise Refused(r.NOT_LINKED)
                if not unit.seen:
                    self.try_step(msg, unit, path, step_for(unit.case, item))
                codes[path] = (r.ACCEPTED,)
            except Refused as refusal:
                codes[path] = (refusal.code,)
        for no, unit in enumerate(units.values(), 1):
            self.save(msg, unit, no, codes)

    def _wmo305(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo305 = msg.message  # type: ignore[assignment]

        def step_for(case: Case, item: m.StartProduct) -> Step:
            state = case.state
            if item.status_aanlevering == "3":
                version = _latest(case, "CareStarted", "started_on", item.begindatum)
                if version is None:
                    raise Refused(r.NOT_LINKED, "no start with this key to withdraw")
                if state.ended_on is not None:
                    raise Refused(r.START_ALREADY_ENDED)
                retraction = f.Retraction(event_version=version, reason="iWmo 305 ingetrokken")
                return lambda case, cat, actor: case.retract(actor, retraction, cat)
            if state.started_on is not None:
                raise Refused(
                    r.RECEIVED_BEFORE if state.started_on == item.begindatum else r.NOT_STOPPED
                )
            start = f.CareStart(started_on=item.begindatum)
            return lambda case, cat, actor: case.record(actor, start, cat)

        self._deliveries(
            msg,
            codes,
            "/Bericht/Client/StartProducten/StartProduct",
            message.client.start_producten,
            step_for,
        )

    def _wmo307(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo307 = msg.message  # type: ignore[assignment]

        def step_for(case: Case, item: m.StopProduct) -> Step:
            state = case.state
            if item.status_aanlevering == "3":
                version = _latest(case, "CaseEnded", "ended_on", item.einddatum)
                if version is None:
                    raise Refused(r.NO_CURRENT_START, "no stop with this key to withdraw")
                retraction = f.Retraction(event_version=version, reason="iWmo 307 ingetrokken")
                return lambda case, cat, actor: case.retract(actor, retraction, cat)
            if state.started_on is None or state.started_on != item.begindatum:
                raise Refused(r.NO_CURRENT_START)
            if state.ended_on is not None:
                raise Refused(r.RECEIVED_BEFORE)
            end = f.End(
                ended_on=item.einddatum,
                reason=item.reden_beeindiging,  # type: ignore[arg-type]
                destination=DESTINATIONS.get(item.reden_beeindiging, "none"),  # type: ignore[arg-type]
            )
            return lambda case, cat, actor: case.record(actor, end, cat)

        self._deliveries(
            msg,
            codes,
            "/Bericht/Client/StopProducten/StopProduct",
            message.client.stop_producten,
            step_for,
        )

    # --- WMO315 Verzoek om toewijzing ------------------------------------------------------
    def _wmo315(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo315 = msg.message  # type: ignore[assignment]
        client = message.client
        tenant = msg.actor.tenant
        client_ref = self.client_ref(msg, client.bsn)
        assert client_ref is not None
        base = "/Bericht/Client/AangevraagdeProducten/AangevraagdProduct"
        for n, p in enumerate(client.aangevraagde_producten, 1):
            path = f"{base}[{n}]"
            try:
                if p.product is not None:
                    self.product(msg, p.product, p.toewijzing_ingangsdatum)
                key = f"caselog:{tenant}:iwmo-request:{msg.provider}:{p.referentie_aanbieder}"
                referral = f.Referral(
                    client_ref=client_ref,
                    tenant=tenant,
                    municipality=msg.municipality,
                    provider=msg.provider,
                    referred_on=msg.dagtekening,
                )
                unit = self.fresh_unit(msg, uuid5(NAMESPACE_URL, key), referral, n)
                unit.requests.append(p.referentie_aanbieder)
                if self.save(msg, unit, n, codes):
                    self.index(msg, unit, client_ref, client.bsn)
                    self.register(msg, client_ref, client)
                codes.setdefault(path, (r.ACCEPTED,))
            except Refused as refusal:
                codes[path] = (refusal.code,)

    # --- WMO317 Verzoek om wijziging -------------------------------------------------------
    def _wmo317(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo317 = msg.message  # type: ignore[assignment]
        verzoek = message.client.verzoek
        base = "/Bericht/Client/Verzoek"
        client_ref = self.client_ref(msg, message.client.bsn, create=False)
        numbers = [p.toewijzing_nummer for p in verzoek.te_wijzigen_producten or []] + [
            p.toewijzing_nummer for p in verzoek.ongewijzigde_producten or []
        ]
        try:
            case_id = None
            for number in numbers:
                case_id = case_id or self.case_for(msg.actor.tenant, "assignment", number)
            if case_id is None and client_ref is not None:
                case_id = self.open_case(msg, client_ref)
            if case_id is None:
                raise Refused(r.NOT_CURRENT_ASSIGNMENT)
            unit = self.new_unit(msg, case_id, 1)
            if client_ref is not None and unit.case.state.client_ref != client_ref:
                raise Refused(r.NOT_CURRENT_ASSIGNMENT)
            state = unit.case.state
            current = state.current
            live = current.assignment_number if current and state.ended_on is None else None
            for kind, items in (
                ("OngewijzigdeProducten/OngewijzigdProduct", verzoek.ongewijzigde_producten),
                ("TeWijzigenProducten/TeWijzigenProduct", verzoek.te_wijzigen_producten),
            ):
                for n, p in enumerate(items or [], 1):
                    path = f"{base}/{kind}[{n}]"
                    codes[path] = (
                        (r.ACCEPTED,)
                        if p.toewijzing_nummer == live
                        else (r.NOT_CURRENT_ASSIGNMENT,)
                    )
            if any(c != (r.ACCEPTED,) for c in codes.values()):
                raise Refused(r.NOT_CURRENT_ASSIGNMENT)
            request = self.change_request(msg, state, verzoek)
            if request is not None and not unit.seen:
                self.try_step(
                    msg, unit, base, lambda case, cat, actor: case.record(actor, request, cat)
                )
            unit.requests.append(verzoek.referentie_aanbieder)
            codes[base] = (r.ACCEPTED,)
            if self.save(msg, unit, 1, codes):
                self.index(msg, unit, unit.case.state.client_ref, None)
        except Refused as refusal:
            codes[base] = (refusal.code,)
            for path, value in list(codes.items()):
                if path != base and value == (r.ACCEPTED,):
                    codes[path] = (r.NOT_JUDGED,)
            for kind, items in (("NieuweProducten/NieuwProduct", verzoek.nieuwe_producten),):
                for n, _ in enumerate(items or [], 1):
                    codes[f"{base}/{kind}[{n}]"] = (r.NOT_JUDGED,)

    def change_request(
        self, msg: Message, state: CaseState, verzoek: m.Verzoek
    ) -> f.ChangeRequest | None:
        """The caselog change request a 317 asks for: a volume or product change is a scale
        up or down, a later Einddatum alone an extension."""
        current = state.current
        assert current is not None
        report = f"iWmo 317 RedenVerzoek {verzoek.reden_verzoek}"
        common = {"request_id": verzoek.referentie_aanbieder, "report": report}
        for p in verzoek.te_wijzigen_producten or []:
            if p.omvang is not None:
                volume = volume_of(p.omvang)
                kind = "scale_up" if volume.amount > current.volume.amount else "scale_down"
                return f.ChangeRequest(
                    kind=kind,
                    volume=volume,
                    effective_on=p.gewenste_ingangsdatum,
                    ends_on=p.einddatum,
                    **common,
                )
            if p.einddatum is not None and p.einddatum > current.ends_on:
                return f.ChangeRequest(
                    kind="extension",
                    ends_on=p.einddatum,
                    effective_on=p.gewenste_ingangsdatum,
                    **common,
                )
        for p in verzoek.nieuwe_producten or []:
            product = self.product(msg, p.product, p.gewenste_ingangsdatum)
            new = msg.cat.product_any(product)
            old = msg.cat.product_any(current.product)
            higher = (new.level or 0) > (old.level or 0) if new and old else True
            return f.ChangeRequest(
                kind="scale_up" if higher else "scale_down",
                product=product,
                volume=volume_of(p.omvang) if p.omvang is not None else None,
                effective_on=p.gewenste_ingangsdatum,
                **common,
            )
        return None

    # --- WMO319 Antwoordbericht ------------------------------------------------------------
    def _wmo319(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo319 = msg.message  # type: ignore[assignment]
        antwoord = message.antwoord
        path = "/Bericht/Antwoord"
        try:
            case_id = self.case_for(
                msg.actor.tenant, "request", f"{msg.provider}|{antwoord.referentie_aanbieder}"
            )
            if case_id is None:
                raise Refused(r.REFERENTIE_UNKNOWN)
            unit = self.new_unit(msg, case_id, 1)
            state = unit.case.state
            if antwoord.verzoek_antwoord == "1" and not unit.seen:
                reason = f"iWmo 319 RedenAfwijzingVerzoek {antwoord.reden_afwijzing_verzoek or ''}"
                if state.request(antwoord.referentie_aanbieder) is not None:
                    decision = f.ChangeDecision(
                        request_id=antwoord.referentie_aanbieder,
                        granted=False,
                        decided_on=msg.dagtekening,
                        reason=reason.strip(),
                    )
                    step: Step = lambda case, cat, actor: case.decide_change(actor, decision, cat)  # noqa: E731
                elif not state.assignments and state.ended_on is None:
                    end = f.End(
                        ended_on=max(msg.dagtekening, state.referred_on),
                        reason="36",
                        destination="none",
                    )
                    step = lambda case, cat, actor: case.record(actor, end, cat)  # noqa: E731
                else:
                    raise Refused(r.REFERENTIE_UNKNOWN, "the request was decided already")
                self.try_step(msg, unit, path, step)
            codes[path] = (r.ACCEPTED,)
            self.save(msg, unit, 1, codes)
        except Refused as refusal:
            codes[path] = (refusal.code,)

    # --- WMO323 Declaratie / WMO325 Declaratie-antwoord ----------------------------------
    def _wmo323(self, msg: Message, message: m.Wmo323) -> m.Wmo325:
        """The declaration is judged and recorded line by line (``iwmo.declared``, which
        decides what a declared month means); the answer is a WMO325."""
        from iwmo.declared import record_declaration  # the declaration cycle's own module

        judgement = record_declaration(
            self.app, self.views, msg.actor.tenant, msg.provider, message
        )
        lines = {line.path: line.codes for line in judgement.lines}
        return declaration_answer(
            message, judgement.codes or (r.ACCEPTED,), lines, judgement.granted_cents, msg.today
        )

    def _wmo325(self, msg: Message, message: m.Wmo325) -> m.Wmo325:
        """A municipality's own judgement of a declaration: its codes per line are recorded
        (``iwmo_declaration_outcome``) and the message is acknowledged as received."""
        answer = message.declaratie_antwoord
        now = msg.today.isoformat()
        rows = []
        if answer is not None:
            for client in answer.clienten or []:
                for p in client.prestaties:
                    rows.append(
                        (
                            msg.actor.tenant,
                            msg.provider,
                            answer.declaratie_nummer,
                            p.product_referentie.referentie_nummer,
                            " ".join(p.retour_codes),
                            now,
                        )
                    )
        with self.views.transaction() as cur:
            for row in rows:
                cur.execute(
                    self.views.sql(
                        "INSERT INTO iwmo_declaration_outcome (tenant, provider, "
                        "declaratie_nummer, referentie_nummer, retour_codes, recorded_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, provider, "
                        "declaratie_nummer, referentie_nummer) DO UPDATE SET "
                        "retour_codes = excluded.retour_codes, recorded_at = excluded.recorded_at"
                    ),
                    row,
                )
        return message


def pseudonym_key(jwt_secret: str) -> bytes:
    """The key of the BSN digests (``iwmo_client``): CASELOG_PSEUDONYM_KEY, by default one
    derived from the JWT secret. Set it in production and never change it: the digests of
    clients already known would no longer match."""
    configured = os.environ.get("CASELOG_PSEUDONYM_KEY")
    derived = hashlib.sha256(b"caselog-pseudonym:" + jwt_secret.encode()).hexdigest()
    return (configured or derived).encode()


def refusal(message: m.Bericht, code: str, today: date) -> m.Retour | m.Wmo325:
    """The answer refusing a whole message with one header code (nothing applied)."""
    if isinstance(message, m.Wmo323):
        return declaration_answer(message, (code,), {}, 0, today)
    if isinstance(message, m.Wmo325):
        return message  # a 325 has no retour message of its own
    return r.build(message, today=today, header_codes=(code,))


def encode_answer(answer: m.Retour | m.Bericht) -> bytes:
    return codec.encode_retour(answer) if isinstance(answer, m.Retour) else codec.encode(answer)


def declaration_answer(
    message: m.Wmo323,
    codes: tuple[str, ...],
    lines: dict[str, tuple[str, ...]],
    granted_cents: int,
    today: date,
) -> m.Wmo325:
    """The WMO325 answering a WMO323: the header's codes, and when the declaration was
    judged line by line, each Prestatie with its codes and the granted total."""
    header = message.header
    d = message.declaratie
    judged = bool(lines)
    clienten = []
    for ci, client in enumerate(d.clienten, 1):
        prestaties = []
        for pi, p in enumerate(client.prestaties, 1):
            path = f"/Bericht/Declaratie/Clienten/Client[{ci}]/Prestaties/Prestatie[{pi}]"
            prestaties.append(
                m.Prestatie325(
                    **msgspec.structs.asdict(p),
                    retour_codes=list(lines.get(path, (r.NOT_JUDGED,))),
                )
            )
        clienten.append(
            m.Client325(bsn=client.bsn, prestaties=prestaties, retour_codes=[r.ACCEPTED])
        )
    return m.Wmo325(
        header=m.Header325(
            bericht_code=m.KINDS["wmo325"][0],
            afzender=header.ontvanger,
            ontvanger=header.afzender,
            bericht_identificatie=m.BerichtIdentificatie(
                identificatie=r.retour_id(message), dagtekening=today
            ),
            declaratie_identificatie=header.bericht_identificatie,
            xsd_versie_declaratie=header.xsd_versie,
            retour_codes=list(codes if not judged else (r.ACCEPTED,)),
        ),
        declaratie_antwoord=m.DeclaratieAntwoord(
            declaratie_nummer=d.declaratie_nummer,
            totaal_ingediend_bedrag=d.totaal_ingediend_bedrag,
            totaal_toegekend_bedrag=m.TotaalBedragMetDC(
                totaal_bedrag=abs(granted_cents), debet_credit="D" if granted_cents >= 0 else "C"
            ),
            clienten=clienten if judged else None,
            retour_codes=list(codes),
        )
        if judged or codes == ("9333",)
        else None,
    )


def _latest(case: Case, event_type: str, attr: str, day: date) -> int | None:
    """The version of the last counting ``event_type`` whose fact has ``attr == day``."""
    for entry in reversed(case.entries):
        counts = entry.event_type == event_type and not entry.retracted
        if counts and getattr(entry.fact, attr) == day:
            return entry.version
    return None


def _replacement(
    case: Case, version: int, product: str, volume: Volume, p: m.ToegewezenProduct, ends_on: date
) -> f.Fact | None:
    """The corrected fact for an assignment changed in place (RedenWijziging 14, or a volume
    over the whole validity, Frequentie 6)."""
    fact = case.entry(version).fact
    rep = msgspec.structs.replace
    if isinstance(fact, f.Indication):
        return rep(
            fact,
            product=product,
            volume=volume,
            starts_on=p.ingangsdatum,
            ends_on=ends_on,
            decided_on=p.toewijzingsdatum,
        )
    if isinstance(fact, f.AwbzConversion):
        return rep(fact, product=product, volume=volume, starts_on=p.ingangsdatum, ends_on=ends_on)
    if isinstance(fact, f.ScaleChange):
        return rep(
            fact,
            effective_on=p.ingangsdatum,
            product=product,
            volume=volume,
            decided_on=p.toewijzingsdatum,
        )
    return None
