"""The ``shipflow`` command: a thin layer that parses, calls the library, renders, exits.

Exit codes (documented in the README):
0 ok · 1 a check or gate failed · 2 usage or configuration error · 3 infrastructure error.
"""

from __future__ import annotations

import logging
import sys

import click

from shipflow import __version__
from shipflow.cli import oci_cmds, sbom_cmds, scan_cmds, sign_cmds
from shipflow.cli.output import print_error, stderr
from shipflow.errors import EXIT_INFRA, EXIT_USAGE, ShipflowError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for _module in (oci_cmds, sign_cmds, sbom_cmds, scan_cmds):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except ShipflowError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        stderr.print("aborted")
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except OSError as exc:
        stderr.print(f"[bold red]error:[/] {exc}")
        sys.exit(EXIT_INFRA)
    sys.exit(0)


if __name__ == "__main__":
    main()
