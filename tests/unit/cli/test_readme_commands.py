"""The README's command table and ``shipflow --help`` name the same commands (the README stays
in step with the code): a new command without a row fails here, and so does a row for a command
that no longer exists."""

from __future__ import annotations

import re

from shipflow.cli.main import COMMAND_MODULES
from support.paths import TESTS_DIR

_ROW = re.compile(r"^\| `shipflow ([^`]+)`")


def _table_rows() -> list[str]:
    readme = (TESTS_DIR.parent / "README.md").read_text(encoding="utf-8")
    return [line for line in readme.splitlines() if _ROW.match(line)]


def _documented() -> set[str]:
    names: set[str] = set()
    for row in _table_rows():
        first_cell = row.split(" | ")[0]
        # "`shipflow status` / `history ENV` / `where D`": one row for several commands
        for code in re.findall(r"`([^`]+)`", first_cell):
            names.add(code.removeprefix("shipflow ").split()[0])
    return names


def test_every_command_has_a_row() -> None:
    assert _table_rows(), "README.md has no command table rows ('| `shipflow …`')"
    missing = sorted(set(COMMAND_MODULES) - _documented())
    assert not missing, f"commands without a row in README.md's command table: {missing}"


def test_every_row_names_a_command() -> None:
    unknown = sorted(_documented() - set(COMMAND_MODULES))
    assert not unknown, f"README.md's command table names commands that do not exist: {unknown}"
