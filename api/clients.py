"""Client registry endpoints (municipality only): register a client's identifying data and
read it back. Everything else in the API knows the client only as ``client_ref``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Request, Response, get, post

from api.context import require, services, strict_body
from application.registry import ClientRegistry, Identity
from domain.values import Actor, Ref


class ClientBody(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    client_ref: Ref
    bsn: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{9}$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    birth_date: date


class ClientOut(msgspec.Struct, kw_only=True):
    client_ref: str
    bsn: str
    name: str
    birth_date: date


def registry(request: Request[Any, Any, Any]) -> ClientRegistry:
    return ClientRegistry(services(request).views)


@post("/v1/clients", status_code=201, summary="Register a client's identity (encrypted)")
async def register_client(
    request: Request[Any, Any, Any], actor: Actor, data: ClientBody
) -> Response[Any]:
    """The identity is encrypted with a key of this client's own; events never hold it."""
    require(actor, "municipality")
    await strict_body(request, data)
    identity = Identity(bsn=data.bsn, name=data.name, birth_date=data.birth_date)
    await anyio.to_thread.run_sync(
        registry(request).register, actor.tenant, data.client_ref, identity
    )
    return Response({"client_ref": data.client_ref}, status_code=201)


@get("/v1/clients/{client_ref:str}", summary="Read a client's identity back")
async def read_client(request: Request[Any, Any, Any], actor: Actor, client_ref: str) -> ClientOut:
    require(actor, "municipality")
    identity = await anyio.to_thread.run_sync(registry(request).read, actor.tenant, client_ref)
    return ClientOut(
        client_ref=client_ref, bsn=identity.bsn, name=identity.name, birth_date=identity.birth_date
    )


CLIENTS = [register_client, read_client]
