"""The ``shipflow`` command: a thin layer that parses, calls the library, renders, exits.

Exit codes (documented in the README):
0 ok · 1 a check or gate failed · 2 usage or configuration error · 3 infrastructure error.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from shipflow import __version__
from shipflow.cli.output import SafeLogFormatter, one_line, print_error, print_failure
from shipflow.errors import EXIT_INFRA, EXIT_USAGE, ShipflowError
from shipflow.redact import RedactingFilter

# httpx imports its own command-line tool (httpx._main: rich.progress, rich.syntax, pygments;
# ≈ 40 ms) whenever click and rich are installed, as they are for us. shipflow never runs it,
# and httpx falls back to a stub when that module cannot be imported. Only the CLI process does
# this; importing shipflow as a library leaves httpx alone.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Which module defines each command. Commands are imported only when run, so `shipflow sign`
# does not pay for the SBOM and scanner libraries (cyclonedx, spdx-tools, sqlite) at start-up;
# `shipflow --help` imports them all. tests/test_cli_main.py checks this table against the
# modules' COMMANDS lists, so a new command cannot be forgotten here.
COMMAND_MODULES: dict[str, str] = {
    "inspect": "shipflow.cli.oci_cmds",
    "digest": "shipflow.cli.oci_cmds",
    "tags": "shipflow.cli.oci_cmds",
    "copy": "shipflow.cli.oci_cmds",
    "tag": "shipflow.cli.oci_cmds",
    "keygen": "shipflow.cli.sign_cmds",
    "sign": "shipflow.cli.sign_cmds",
    "verify": "shipflow.cli.sign_cmds",
    "attest": "shipflow.cli.sign_cmds",
    "verify-attestation": "shipflow.cli.sign_cmds",
    "sbom": "shipflow.cli.sbom_cmds",
    "scan": "shipflow.cli.scan_cmds",
    "db": "shipflow.cli.scan_cmds",
    "build": "shipflow.cli.build_cmds",
    "release": "shipflow.cli.release_cmds",
    "verify-image": "shipflow.cli.release_cmds",
    "promote": "shipflow.cli.promote_cmds",
    "approve": "shipflow.cli.promote_cmds",
    "status": "shipflow.cli.promote_cmds",
    "history": "shipflow.cli.promote_cmds",
    "where": "shipflow.cli.promote_cmds",
    "canary": "shipflow.cli.canary_cmds",
    "rollback": "shipflow.cli.canary_cmds",
    "migration": "shipflow.cli.migration_cmds",
    "init": "shipflow.cli.init_cmds",
}


def load_command(name: str) -> click.Command:
    module = importlib.import_module(COMMAND_MODULES[name])
    commands: list[click.Command] = module.COMMANDS
    for command in commands:
        if command.name == name:
            return command
    raise LookupError(f"{COMMAND_MODULES[name]} defines no command {name!r}")


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES, key=list(COMMAND_MODULES).index)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return None
        return load_command(cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="shipflow")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """shipflow: build once, sign, scan, promote by digest, roll back automatically.

    Images are named by any store reference: a registry (ghcr.io/org/app:tag,
    127.0.0.1:5000/app@sha256:...) or an on-disk OCI layout (oci:./store:dev).

    Exit codes: 0 ok, 1 a check or gate failed, 2 usage or configuration error,
    3 infrastructure error (network, registry, disk).
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Every record that reaches the terminal passes the redaction filter, whichever logger made
    # it, and has its control characters escaped (a logged name cannot drive the terminal).
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(SafeLogFormatter("%(levelname)s %(name)s: %(message)s"))


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


# click >= 8.2 raises this for a group run without a command (`shipflow`, `shipflow db`).
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    t for t in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if isinstance(t, type)
)


def report_click_error(exc: click.ClickException) -> int:
    """click's own errors (unknown option, bad value, missing argument) as one ``error:``
    line and one ``hint:`` line, instead of click's ``Usage:``/``Try`` block; the exit code."""
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, _NO_ARGS_IS_HELP) and ctx is not None:
        click.echo(ctx.get_help(), err=True)  # the help is what was asked for
        return EXIT_USAGE
    hint = None
    if isinstance(exc, click.UsageError):
        command = ctx.command_path if ctx is not None else "shipflow"
        hint = f"`{command} --help` shows the usage"
    print_failure(one_line(exc.format_message()), hint)
    return EXIT_USAGE


def main() -> None:
    """Run the CLI: every failure becomes one ``error:`` line (and a ``hint:``) and an exit code
    of the documented four; Ctrl-C is exit 130."""
    try:
        result = cli.main(standalone_mode=False)
    except ShipflowError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and end of input at a prompt) into Abort before we see it.
        if isinstance(exc.__cause__, EOFError):
            print_failure("no input: the prompt was closed", "give the value in an option or variable")
            sys.exit(EXIT_USAGE)
        print_failure("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        sys.exit(report_click_error(exc))
    except KeyboardInterrupt:
        print_failure("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:
        print_failure(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        sys.exit(EXIT_INFRA)
    # standalone_mode=False hands back ctx.exit()'s code (e.g. 0 after --help) or the command's.
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
