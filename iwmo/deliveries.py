"""WMO305 Start zorg and WMO307 Stop zorg: care started / ended, or that message withdrawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue
from domain.errors import CaseNotFound, DomainError
from domain.values import Actor
from iwmo import messages as m
from iwmo import retour as r
from iwmo.units import DESTINATIONS, RULE_CODES, Message, Refused, Step, Unit, latest_version

log = structlog.get_logger("caselog.iwmo")


class Deliveries:
    """Handlers mixed into ``iwmo.inbound.Inbound``."""

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

        def linked(case: Case, item: Any) -> None:
            """The item names an assignment of this client's case (else 9019)."""
            state = case.state
            if client_ref is not None and state.client_ref != client_ref:
                raise Refused(r.NOT_LINKED, "the assignment is another client's")
            if item.toewijzing_nummer is not None:
                number = item.toewijzing_nummer
                match = [a for a in state.assignments if a.assignment_number == number]
                if not match or (
                    item.toewijzing_ingangsdatum is not None
                    and match[0].starts_on != item.toewijzing_ingangsdatum
                ):
                    raise Refused(r.NOT_LINKED)

        if len(items) == 1:  # the usual case: judged and applied in one go, in the writer
            self._delivery(msg, codes, f"{base}[1]", client_ref, items[0], linked, step_for)
            return
        units: dict[UUID, Unit] = {}
        for n, item in enumerate(items, 1):
            path = f"{base}[{n}]"
            try:
                case_id = self._delivery_case(msg, client_ref, item.toewijzing_nummer)
                unit = units.get(case_id)
                if unit is None:
                    unit = units[case_id] = self.new_unit(msg, case_id, len(units) + 1)
                linked(unit.case, item)
                if not unit.seen:
                    self.try_step(msg, unit, path, step_for(unit.case, item))
                codes[path] = (r.ACCEPTED,)
            except Refused as refusal:
                codes[path] = (refusal.code,)
        for no, unit in enumerate(units.values(), 1):
            self.save(msg, unit, no, codes)

    def _delivery(
        self,
        msg: Message,
        codes: dict[str, tuple[str, ...]],
        path: str,
        client_ref: str | None,
        item: Any,
        linked: Callable[[Case, Any], None],
        step_for: Callable[[Case, Any], Step],
    ) -> None:
        """A message of one start or stop: its checks and its command run as one step on
        the case the writer holds, so no separate read of the case is needed. A resend
        after a crash is recognised by the writer (the request key) and applies nothing."""

        def step(case: Case, cat: Catalogue, actor: Actor) -> None:
            linked(case, item)
            step_for(case, item)(case, cat, actor)

        try:
            case_id = self._delivery_case(msg, client_ref, item.toewijzing_nummer)
            self.app.record_together(case_id, self.unit_actor(msg, 1), [step])
        except Refused as refusal:
            codes[path] = (refusal.code,)
        except CaseNotFound:
            codes[path] = (r.NOT_LINKED,)
        except DomainError as refusal:
            log.info("iwmo part refused", path=path, rule=refusal.rule, detail=str(refusal))
            codes[path] = (RULE_CODES.get(refusal.rule, r.TECHNICAL),)
        else:
            codes[path] = (r.ACCEPTED,)

    def _wmo305(self, msg: Message, codes: dict[str, tuple[str, ...]]) -> None:
        message: m.Wmo305 = msg.message  # type: ignore[assignment]

        def step_for(case: Case, item: m.StartProduct) -> Step:
            state = case.state
            if item.status_aanlevering == "3":
                version = latest_version(case, "CareStarted", "started_on", item.begindatum)
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
                version = latest_version(case, "CaseEnded", "ended_on", item.einddatum)
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
