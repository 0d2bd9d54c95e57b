"""Outbound iWmo: the outbox feed per party and the monthly declaration (WMO323)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get

from api.catalogue import CATALOGUE
from api.context import aware, invalid, require, services
from api.declarations import DECLARATIONS, parse_month
from api.problems import Forbidden
from application.registry import ClientErased, ClientNotFound, ClientRegistry
from domain.errors import CaseNotFound, DomainError
from domain.values import Actor
from iwmo import outbox as messages
from iwmo.declaration import build_declaration, resolve
from projections import outbox

XML = "application/xml"
#: Largest log position a client may name (a notification id is a 64-bit integer).
MAX_POSITION = 2**63 - 1


class OutboxMessage(msgspec.Struct, kw_only=True):
    id: int
    code: str
    case_id: str
    recorded_at: str
    #: The message; None when it cannot be built (then ``problem`` says why, e.g. the
    #: client was erased: GET /v1/iwmo/outbox/{id} answers 410 for it).
    xml: str | None
    problem: str | None = None


class OutboxOut(msgspec.Struct, kw_only=True):
    messages: list[OutboxMessage]
    next: int | None


def _catch_up(svc: Any) -> None:
    """The feed and the case summaries (a 301 looks up the client's other cases there) up
    to the head of the log: read-your-writes."""
    svc.caught_up()
    outbox.catch_up(svc.app, svc.views)


def _party(actor: Actor) -> tuple[str, str | None]:
    """Providers read their own feed; a municipality token reads its region's municipalities'
    feed (each message names its municipality as Ontvanger)."""
    if actor.role == "provider":
        return "provider", actor.provider
    return "municipality", None


@get("/v1/iwmo/outbox", summary="iWmo messages for the caller's party, oldest first")
async def get_outbox(
    request: Request[Any, Any, Any],
    actor: Actor,
    after: int = 0,
    limit: int = 100,
    as_of: datetime | None = None,
    municipality: str | None = None,
) -> OutboxOut:
    """301 / 319 for a provider when a municipal decision was recorded, 305 / 307 / 315 / 317
    for a municipality when a provider's fact was recorded; page with ``after=next``. A
    municipality token may narrow the feed to one ``municipality`` (name or gemeentecode)."""
    require(actor, "municipality", "provider")
    if not 1 <= limit <= 500:
        raise invalid("limit", "between 1 and 500")
    if not 0 <= after <= MAX_POSITION:
        raise invalid("after", "a position from an earlier answer (0 for the start)")
    aware(as_of, "as_of")
    svc = services(request)
    role, party = _party(actor)
    if municipality and role == "municipality":
        cat = svc.app.catalogues.for_tenant(actor.tenant)
        party = cat.municipality_for_code(municipality) or municipality
        if party not in cat.municipalities:
            raise invalid("municipality", f"not a municipality of {actor.tenant}")

    def read() -> OutboxOut:
        _catch_up(svc)
        rows = outbox.feed(
            svc.views, actor.tenant, role, party, after=after, limit=limit, as_of=as_of
        )
        registry = ClientRegistry(svc.views)
        out = []
        for row in rows:
            try:
                xml, problem = messages.build(svc.app, registry, row).decode(), None
            except ClientErased:
                xml, problem = (
                    None,
                    "the client was erased (R-33): this message can no longer be built",
                )
            except ClientNotFound:
                xml, problem = None, "the client has no identity in the client registry"
            except DomainError as e:
                xml, problem = None, str(e)
            out.append(
                OutboxMessage(
                    id=row.position,
                    code=row.code,
                    case_id=row.case_id,
                    recorded_at=row.recorded_at,
                    xml=xml,
                    problem=problem,
                )
            )
        return OutboxOut(messages=out, next=rows[-1].position if rows else None)

    return await anyio.to_thread.run_sync(read)


@get("/v1/iwmo/outbox/{message_id:int}", summary="One outbox message as iWmo XML")
async def get_outbox_message(
    request: Request[Any, Any, Any], actor: Actor, message_id: int
) -> Response[bytes]:
    """The XML alone; 410 when the client was erased, 404 outside the caller's feed."""
    require(actor, "municipality", "provider")
    if not 1 <= message_id <= MAX_POSITION:  # beyond 64 bits the store itself would fail
        raise CaseNotFound(f"outbox message {message_id} not found")
    svc = services(request)
    role, party = _party(actor)

    def read() -> bytes:
        _catch_up(svc)
        rows = outbox.feed(svc.views, actor.tenant, role, party, after=message_id - 1, limit=1)
        if not rows or rows[0].position != message_id:
            raise CaseNotFound(f"outbox message {message_id} not found")
        return messages.build(svc.app, ClientRegistry(svc.views), rows[0])

    return Response(await anyio.to_thread.run_sync(read), media_type=XML)


@get("/v1/iwmo/declarations/{month:str}", summary="The WMO323 of a provider to a municipality")
async def get_declaration(
    request: Request[Any, Any, Any],
    actor: Actor,
    month: str,
    municipality: str,
    provider: str | None = None,
) -> Response[bytes]:
    """Built from the declarations projection, without side effects: the month counts as
    declared once the provider POSTs this message to /v1/iwmo/messages. 409 (rule C-03) when
    the catalogue has no price or code for a line, 409 (C-07) when nothing is new, 410 when a
    client's identity was erased. ``municipality`` / ``provider``: names/ids or iWmo codes."""
    require(actor, "provider", "municipality")
    month = parse_month(month)
    if actor.role == "provider":
        provider = provider or actor.provider  # its own id or AGB code: checked once resolved
    if not provider:
        raise invalid("provider", "required for a municipality")
    svc = services(request)

    def read() -> bytes:
        svc.caught_up()
        _, pid, name = resolve(svc.app, actor.tenant, provider, municipality)
        if actor.role == "provider" and pid != actor.provider:
            raise Forbidden("a provider reads only its own declarations")
        return build_declaration(svc.app, svc.views, actor.tenant, pid, name, month)

    return Response(await anyio.to_thread.run_sync(read), media_type=XML)


#: Every route of the outbound side, registered in ``api/app.py`` with one line.
IWMO_OUTBOUND = [*CATALOGUE, *DECLARATIONS, get_outbox, get_outbox_message, get_declaration]
