"""POST /v1/iwmo/messages: one iWmo 3.2 message in, its retour message out (shared/API.md).

The body is parsed hardened (``iwmo.xml``) and checked against caselog's models of the
standard (``iwmo.codec``): not well-formed or not iWmo 3.2 is a 400, a schema breach a 422
naming each element path, an Afzender that is not the caller's own code a 403. The message
ledger (``iwmo.ledger``) keyed by Afzender + Identificatie answers a resend with the first
retour and applies nothing; another message with a used Identificatie gets a retour with
9056. A crash between apply and answer is covered by the request key the applied events
carry (``iwmo.inbound``), as for the JSON API.
"""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, post

from api.auth import DEV_SECRET
from api.context import services
from api.problems import FieldError, Forbidden, problem
from application.application import today
from domain.values import Actor
from iwmo import codec, parties, xml
from iwmo.inbound import Inbound, pseudonym_key
from iwmo.ledger import receive_once
from iwmo.messages import Bericht, Retour

XML = "application/xml"


def decode(body: bytes) -> Bericht | Response[Any]:
    """The message, or the problem+json answer (400 / 422) saying why not."""
    try:
        message = codec.decode(body)
    except xml.NotWellFormed as error:
        return problem(400, "not-well-formed", "Malformed request", str(error))
    except codec.NotIwmo as error:
        return problem(400, "not-iwmo", "Malformed request", str(error))
    except codec.SchemaError as error:
        return problem(
            422,
            "iwmo-schema",
            "Invalid values",
            f"the {error.kind.upper()} breaks the iWmo 3.2 schema",
            errors=[FieldError(field=path, message=msg) for path, msg in error.errors],
        )
    if isinstance(message, Retour):
        return problem(
            400, "not-iwmo", "Malformed request", "caselog takes heen messages, not retours"
        )
    return message


@post(
    "/v1/iwmo/messages",
    status_code=200,
    summary="Receive one iWmo 3.2 message; answers its retour message",
    request_max_body_size=xml.MAX_BYTES,
)
async def receive_message(request: Request[Any, Any, Any], actor: Actor) -> Response[Any]:
    """Each part becomes the commands it implies on its case (the same aggregate and rules
    as the JSON API) and is answered with its WJ001 retour code."""
    body = await request.body()
    message = decode(body)
    if isinstance(message, Response):
        return message
    svc = services(request)
    cat = svc.app.catalogues.for_tenant(actor.tenant)
    try:
        parties.check_sender(actor, cat, message)
    except parties.WrongSender as error:
        raise Forbidden(str(error)) from None
    inbound = Inbound(svc.app, svc.views, pseudonym_key(svc.verifier.hs_key or DEV_SECRET))
    data, replayed = await anyio.to_thread.run_sync(
        receive_once, inbound, svc.views, actor, message, body, today()
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(data, media_type=XML, headers=headers)


IWMO_INBOUND = [receive_message]
