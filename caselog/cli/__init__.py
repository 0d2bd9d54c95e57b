"""The ``caselog`` command: serve, demo data, tokens, histories and store operations.

Built on click (litestar brings it, and rich for progress bars). A user's mistake (a bad
option, an unknown case, a store that cannot be reached) ends with one line on stderr that
names the problem and the fix, and a non-zero exit code; a traceback means a bug.
Options that choose the store and the logs (``--database-url``, ``--log-level``) are taken
before or after the subcommand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from caselog.cli.common import CONTEXT, CliError, store_options
from storage.config import ConfigError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="wmo-caselog", prog_name="caselog")
@store_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Event-sourced case log for Wmo 2015 individual guidance.

    Configuration comes from CASELOG_* environment variables or a .env file in the working
    directory (README: Configuration); options given here win.
    """
    ctx.ensure_object(dict)


@cli.group(context_settings=CONTEXT)
def iwmo() -> None:
    """iWmo 3.2 messages: import message files, print a month's declaration (WMO323)."""


def _register() -> None:
    from caselog.cli import commands, iwmo_commands, operations

    for command in (*commands.COMMANDS, *operations.COMMANDS):
        cli.add_command(command)
    for command in iwmo_commands.COMMANDS:
        iwmo.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="caselog", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        _say("aborted; nothing was changed")
        return 1
    except click.exceptions.NoArgsIsHelpError as e:  # `caselog` alone: the help, as is
        click.echo(e.format_message(), err=True)
        return EXIT_USAGE
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx else "caselog"
        _say(f"{e.format_message()} (see '{where} --help')")
        return EXIT_USAGE
    except click.ClickException as e:  # CliError included: the message names the fix
        _say(e.format_message())
        return e.exit_code
    except ConfigError as e:
        _say(f"configuration: {e}")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `caselog history ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return int(result or 0) if isinstance(result, int) else 0


def _say(message: str) -> None:
    first = " ".join(message.split())  # one line, whatever the library wrote
    click.echo(f"caselog: {first}", err=True)


__all__ = ["CliError", "cli", "iwmo", "main"]
