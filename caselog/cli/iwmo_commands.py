"""``caselog iwmo import | declaration``: iWmo 3.2 messages in batch (docs/iwmo.md).

Thin wrappers over the plain functions of the ``iwmo`` package: the store is opened as every
other command opens it, and a user's mistake (no message files, an unknown code, a month
without a price) is one line naming the problem and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from caselog.cli.common import (
    CONTEXT,
    CliError,
    open_app,
    open_views,
    progress_bar,
    settings,
    store_options,
)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@click.command("import", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the retour messages (default: beside each message file).",
)
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Clients applied in parallel.")  # fmt: skip
@store_options
@click.pass_context
def import_(ctx: click.Context, paths: tuple[Path, ...], out: Path | None, workers: int) -> int:
    """Apply iWmo message files (or folders of them) as POST /v1/iwmo/messages would, and
    write each message's retour; prints a summary of the retour codes."""
    from api.auth import DEV_SECRET
    from application.application import today
    from iwmo.cli import import_messages, message_files
    from iwmo.inbound import pseudonym_key

    if not message_files(list(paths)):
        raise CliError("no *.xml message files in the given paths; name files or folders of them")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    with (
        open_app(ctx, must_exist=False) as app,
        open_views(ctx) as views,
        progress_bar("messages") as update,
    ):
        summary = import_messages(
            list(paths),
            app=app,
            views=views,
            pseudonym_key=pseudonym_key(settings(ctx).jwt_secret or DEV_SECRET),
            today=today(),
            out=out,
            workers=workers,
            progress=update,
        )
    click.echo("\n".join(summary.lines()))
    return 1 if summary.refused else 0


@click.command("declaration", context_settings=CONTEXT)
@click.option("--provider", required=True, help="Provider id or AGB code.")
@click.option("--municipality", required=True, help="Municipality name or CBS gemeentecode.")
@click.option("--month", required=True, help="The month declared, YYYY-MM.")
@click.option("--tenant", help="The region (default: found from the codes).")
@store_options
@click.pass_context
def declaration(
    ctx: click.Context, provider: str, municipality: str, month: str, tenant: str | None
) -> int:
    """Print the WMO323 of one provider to one municipality for a month (the same message
    as GET /v1/iwmo/declarations/{month}); nothing is recorded."""
    from application.registry import ClientErased, ClientNotFound
    from domain.errors import RuleViolation
    from iwmo.declaration import declaration_cli

    if not MONTH.match(month):
        raise CliError(f"{month!r} is not a month; write it as YYYY-MM, e.g. 2024-02")
    with open_app(ctx) as app, open_views(ctx) as views:
        try:
            xml = declaration_cli(app, views, provider, municipality, month, tenant)
        except RuleViolation as refused:
            raise CliError(f"no declaration: {refused}") from None
        except (ClientErased, ClientNotFound) as missing:
            raise CliError(f"no declaration: {missing}") from None
    click.get_binary_stream("stdout").write(xml)
    return 0


COMMANDS = [import_, declaration]
