"""WMO301 Toewijzing: each ToegewezenProduct becomes a grant, a scale change, an extension,
a withdrawal or a correction of the case's assignment (docs/iwmo.md)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.values import Actor, Volume
from iwmo import messages as m
from iwmo import retour as r
from iwmo.units import Message, Refused, Step, volume_of


class Assignments:
    """Handlers mixed into ``iwmo.inbound.Inbound``."""

    # --- WMO301 Toewijzing ---------------------------------------------------------------
    def _wmo301(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo301 = msg.message  # type: ignore[assignment]
        client = message.client
        tenant = msg.actor.tenant
        base = "/Bericht/Client/ToegewezenProducten/ToegewezenProduct"
        products = list(enumerate(client.toegewezen_producten, 1))
        known_client = self.client_ref(msg, client.bsn, create=False)
        client_ref = known_client or self.new_client_ref(msg, client.bsn)
        case_id: UUID | None = None
        for n, p in products:
            if p.referentie_aanbieder is not None:
                found = self.case_for(tenant, "request", f"{msg.provider}|{p.referentie_aanbieder}")
                if found is None:
                    codes[f"{base}[{n}]"] = (r.REFERENTIE_UNKNOWN,)
                case_id = case_id or found
        for _, p in products:
            case_id = case_id or self.case_for(tenant, "assignment", p.toewijzing_nummer)
        if known_client is not None:  # a client new to caselog has no case yet
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

    def granted_request(
        self, msg: Message, case: Case, p: m.ToegewezenProduct, existing: Any
    ) -> Step | None:
        """A 301 answering the provider's open change request (its ReferentieAanbieder)
        with what was asked grants it: ``ChangeDecided``, which records the scale change or
        extension itself, as the JSON API's decision does. Granted otherwise, the 301 is
        recorded as it is and the request stays open for a 319."""
        ref = p.referentie_aanbieder
        open_request = case.state.request(ref) if ref else None
        if open_request is None:
            return None
        req = open_request.request
        current = case.state.current
        if req.kind == "extension":
            asked = existing is not None and p.einddatum == req.ends_on
        else:
            product = self.product(msg, p.product, p.ingangsdatum)
            volume = volume_of(p.omvang)
            asked = (
                existing is None
                and p.ingangsdatum == req.effective_on
                and volume == (req.volume or (current.volume if current else None))
                and product == (req.product or (current.product if current else None))
            )
        if not asked:
            return None
        decision = f.ChangeDecision(
            request_id=req.request_id,
            granted=True,
            decided_on=p.toewijzingsdatum,
            reason=f"iWmo 301 ToewijzingNummer {p.toewijzing_nummer}",
            assignment_number=None if req.kind == "extension" else p.toewijzing_nummer,
        )
        return lambda case, cat, actor: case.decide_change(actor, decision, cat)

    def assignment_step(self, msg: Message, case: Case, p: m.ToegewezenProduct) -> Step | None:
        """The command a ToegewezenProduct implies for the case (None: nothing changed)."""
        state = case.state
        number = p.toewijzing_nummer
        existing = next((a for a in state.assignments if a.assignment_number == number), None)
        reason = f"iWmo 301 RedenWijziging {p.reden_wijziging}" if p.reden_wijziging else ""
        granting = self.granted_request(msg, case, p, existing)
        if granting is not None:
            return granting
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
