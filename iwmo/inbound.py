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
from datetime import date, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
import structlog

from application.application import CaseLog
from application.registry import ClientErased, ClientExists, ClientRegistry, Identity
from application.timeline import clone
from domain import facts as f
from domain.case import Case
from domain.errors import CaseNotFound, DomainError
from domain.rules import add_months
from domain.values import Actor
from iwmo import codec, parties, writes
from iwmo import messages as m
from iwmo import retour as r
from iwmo.assignments import Assignments
from iwmo.declaraties import Declaraties, declaration_answer
from iwmo.deliveries import Deliveries
from iwmo.units import RULE_CODES, Message, Refused, Step, Unit
from iwmo.verzoeken import Verzoeken
from storage.views import ViewStore

log = structlog.get_logger("caselog.iwmo")


class Inbound(Assignments, Deliveries, Verzoeken, Declaraties):
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
        return self.new_client_ref(msg, bsn) if create else None

    def new_client_ref(self, msg: Message, bsn: str) -> str:
        return "c-" + uuid5(NAMESPACE_URL, f"caselog:{msg.actor.tenant}:{msg.key}:{bsn}").hex[:20]

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
        """A private copy of the case at its head: the message's steps are tried on it in
        memory, and the copy ``get_case`` hands out is shared by every reader."""
        try:
            return clone(self.app.get_case(case_id, msg.actor))
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
    """The answer's XML. Not read back through the schema walk on this hot path: retours
    are built from a message that passed it, and tests/unit/iwmo/test_codec.py checks that
    every kind of answer does."""
    if isinstance(answer, m.Retour):
        return codec.encode_retour(answer, validate=False)
    return codec.encode(answer, validate=False)
