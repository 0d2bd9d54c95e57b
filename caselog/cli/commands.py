"""``caselog serve | demo | history | token``."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING
from uuid import UUID

import click
import msgspec

from caselog.cli.common import (
    CONTEXT,
    CaseId,
    CliError,
    check_tenant,
    counted,
    open_app,
    progress_bar,
    settings,
    store_options,
)

if TYPE_CHECKING:
    from application.application import CaseLog

DEMO_CASES = 300
DEMO_SEED = 2022


@click.command(context_settings=CONTEXT)
@click.option("--host", help="Address to listen on (env CASELOG_HOST; default 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port (env CASELOG_PORT; default 8000)."
)
@click.option("--demo", is_flag=True, help="Load the demo data first when the store is empty.")
@click.option(
    "--projections",
    type=click.Choice(["inline", "off"]),
    help="Run the projection runner beside the service as its child process (inline, the "
    "default), or leave it to "
    "'caselog projections follow' beside the service (off). Env CASELOG_PROJECTIONS.",
)
@store_options
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, demo: bool, projections: str | None
) -> int:
    """Run the HTTP API (and, by default, the projection runner)."""
    from api.server import serve as run

    s = settings(ctx)
    if demo:
        # Demo amounts use the invented example tariffs, marked price_source="example".
        os.environ.setdefault("CASELOG_EXAMPLE_TARIFFS", "1")
        with open_app(ctx, must_exist=False) as app:
            if app.max_notification_id():
                click.echo("the store already holds events: demo data not loaded", err=True)
            else:
                _load_demo(app, DEMO_CASES, DEMO_SEED)
    else:
        with open_app(ctx, must_exist=False):
            pass  # the store is reachable and its schema current before we listen
    return run(
        host=host or s.host,
        port=port or s.port,
        database_url=s.database_url,
        projections=projections or s.projections,
        settings=s,
    )


@click.command(context_settings=CONTEXT)
@click.option(
    "--cases",
    type=click.IntRange(min=1),
    default=DEMO_CASES,
    show_default=True,
    help="How many cases.",
)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True, help="Random seed.")
@click.option("--force", is_flag=True, help="Add the cases even if the store holds events.")
@store_options
@click.pass_context
def demo(ctx: click.Context, cases: int, seed: int, force: bool) -> int:
    """Load deterministic demo data (both regions, every product) into an empty store."""
    with open_app(ctx, must_exist=False) as app:
        if not force and app.max_notification_id():
            raise CliError(
                f"the store {app.store.redacted_url} already holds events, so demo data was "
                "not loaded; use --force to add it anyway, or an empty --database-url"
            )
        _load_demo(app, cases, seed)
    return 0


def _load_demo(app: CaseLog, cases: int, seed: int) -> None:
    from application.demo import generate
    from projections.runner import ProjectionRunner

    started = time.perf_counter()
    with progress_bar("demo cases") as update:
        events = app.import_cases(counted(generate(cases, seed=seed), cases, update))
    took = time.perf_counter() - started
    click.echo(
        f"loaded {cases} demo cases, {events} events in {took:.1f}s into {app.store.redacted_url}"
    )
    with progress_bar("projections") as update:
        processed = ProjectionRunner(app).run_until_current(progress=update)
    click.echo(f"projections current ({processed} events processed)")
    from application.demo import register_demo_identities
    from storage.views import ViewStore

    views = ViewStore(app.store)
    try:
        identities = register_demo_identities(views)
    finally:
        views.close()
    click.echo(f"{identities} fictional client identities registered (iWmo messages need one)")
    first = next(app.iter_events(1, 1))[1]
    click.echo(f"for example: caselog history {first.originator_id}")


@click.command(context_settings=CONTEXT)
@click.argument("case_id", type=CaseId())
@store_options
@click.pass_context
def history(ctx: click.Context, case_id: UUID) -> int:
    """Print a case's events, oldest first, as JSON lines (the auditor's view)."""
    from domain.errors import CaseNotFound
    from domain.values import Actor

    with open_app(ctx) as app:
        try:
            # the command line is an operator's tool: it reads on the system's own authority
            tenant = app.get_case_tenant(case_id)
        except CaseNotFound:
            raise CliError(
                f"no case {case_id} in {app.store.redacted_url}; check the id, or "
                "--database-url if the case lives in another store"
            ) from None
        actor = Actor(sub="cli", role="auditor", tenant=tenant)
        for event in app.get_history(case_id, actor):
            line = {
                "version": event.originator_version,
                "type": type(event).__name__,
                "recorded_at": event.timestamp,
                "occurred_on": event.occurred_on,
                "actor": event.actor,
                "data": event.fact,
            }
            click.echo(msgspec.json.encode(line).decode())
    return 0


@click.command(context_settings=CONTEXT)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["municipality", "provider", "contract_manager", "auditor"]),
    help="The role the token grants.",
)
@click.option("--tenant", required=True, help="The region, as the catalogue names it (e.g. zou).")
@click.option("--provider", help="The provider's code; for, and only for, --role provider.")
@click.option("--sub", default="cli-user", show_default=True, help="The actor id in the token.")
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds the token is valid.",
)
@click.pass_context
def token(
    ctx: click.Context, role: str, tenant: str, provider: str | None, sub: str, ttl: int
) -> int:
    """Print an HS256 token signed with CASELOG_JWT_SECRET (for tests and operators)."""
    from api.auth import DEV_SECRET, issue_token

    s = settings(ctx)
    check_tenant(s, tenant)
    if role == "provider" and not provider:
        raise CliError("a provider token needs --provider CODE (the provider's code)")
    if role != "provider" and provider:
        raise CliError(f"--provider is only for --role provider, not for a {role}; drop it")
    if not s.jwt_secret:
        click.echo(
            "caselog: CASELOG_JWT_SECRET is not set: signed with the development secret",
            err=True,
        )
    click.echo(
        issue_token(
            role=role,
            tenant=tenant,
            provider=provider,
            sub=sub,
            ttl_seconds=ttl,
            key=s.jwt_secret or DEV_SECRET,
        )
    )
    return 0


COMMANDS = [serve, demo, history, token]
