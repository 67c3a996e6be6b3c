"""Terminal output of user-controlled text (issue 7 item 3, issue 11 item 5): plain text, never
rich markup (``[bold]`` stays, ``[/x]`` cannot crash), and control characters escaped so a
hostile path, package name or server reply cannot drive the terminal."""

from __future__ import annotations

import io
import logging

import pytest
from rich.table import Table
from rich.text import Text

from shipflow.cli import output
from shipflow.cli.output import SafeConsole, SafeLogFormatter, one_line, safe_text
from shipflow.errors import RegistryError

ESC = "\x1b"
HOSTILE = f"[/x] [b]bold?[/b] [bold red]red?[/] {ESC}[2J{ESC}]0;title\x07 back\x08\r\x9b \u202eevil"


def _console(width: int = 200) -> tuple[SafeConsole, io.StringIO]:
    buffer = io.StringIO()
    return SafeConsole(
        file=buffer, width=width, markup=False, force_terminal=True, color_system="standard"
    ), buffer


def test_safe_text_escapes_controls_and_keeps_newlines_and_tabs() -> None:
    assert safe_text(f"a{ESC}[31mb\tc\nd\x00\x7f\x85\u202e") == "a\\x1b[31mb\tc\nd\\x00\\x7f\\x85\\u202e"
    assert one_line("first\nsecond\n") == "first second"


def _without_our_styles(text: str) -> str:
    """The rendered text minus the SGR sequences rich itself adds (ESC [ digits ; m)."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize(
    "renderable",
    [
        HOSTILE,
        Text(HOSTILE),  # a Text built by library code, which bypasses render_str
    ],
)
def test_console_prints_user_text_literally(renderable: str | Text) -> None:
    console, buffer = _console()
    console.print(renderable)
    shown = _without_our_styles(buffer.getvalue())
    assert "[/x] [b]bold?[/b] [bold red]red?[/]" in shown
    assert ESC not in shown and "\x07" not in shown and "\x08" not in shown and "\r" not in shown
    assert "\\x1b[2J" in shown and "\\u202e" in shown


def test_table_cells_are_plain_text() -> None:
    console, buffer = _console()
    table = Table("package", "summary")
    table.add_row(f"[bold]lodash{ESC}[31m", "[/x] crash?")
    console.print(table)
    shown = _without_our_styles(buffer.getvalue())
    assert "[bold]lodash\\x1b[31m" in shown and "[/x] crash?" in shown


def test_print_error_shows_the_message_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    console, buffer = _console()
    monkeypatch.setattr(output, "stderr", console)
    output.print_error(RegistryError("registry said [/v2/] and [sha256-abc.sig]", hint=f"retry [b]{ESC}[0m"))
    shown = _without_our_styles(buffer.getvalue())
    assert shown.splitlines() == [
        "error: registry said [/v2/] and [sha256-abc.sig]",
        "hint: retry [b]\\x1b[0m",
    ]


def test_log_lines_are_escaped_but_keep_tracebacks() -> None:
    formatter = SafeLogFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "package %s", (f"{ESC}[2Jname",), None)
    assert formatter.format(record) == "WARNING package \\x1b[2Jname"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "\nTraceback" in formatter.format(record)
