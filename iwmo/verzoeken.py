"""WMO315 / WMO317 (the provider's requests) and WMO319 (the municipality's answer)."""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from domain import facts as f
from domain.state import CaseState
from iwmo import messages as m
from iwmo import retour as r
from iwmo.units import Message, Refused, Step, volume_of


class Verzoeken:
    """Handlers mixed into ``iwmo.inbound.Inbound``."""

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
