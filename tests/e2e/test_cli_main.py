"""The top-level command: lazy command table, help, version, exit codes of the wrapper."""

from __future__ import annotations

import importlib
import subprocess
import sys

from click.testing import CliRunner

from shipflow.cli.main import COMMAND_MODULES, cli, load_command


def test_command_table_matches_every_module() -> None:
    """Every command a CLI module exports is in the lazy table, under the right module."""
    modules = sorted(set(COMMAND_MODULES.values()))
    exported = {}
    for name in modules:
        for command in importlib.import_module(name).COMMANDS:
            exported[command.name] = name
    assert exported == COMMAND_MODULES
    for name in COMMAND_MODULES:
        assert load_command(name).name == name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMAND_MODULES:
        assert f"  {name}" in result.output


def test_running_one_command_does_not_import_the_scanner() -> None:
    code = (
        "import sys\n"
        "from shipflow.cli.main import cli\n"
        "try:\n"
        "    cli.main(['digest', '--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('shipflow.scan.db' in sys.modules, 'cyclonedx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_unknown_command_is_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", "no-such-command"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "No such command" in proc.stderr
