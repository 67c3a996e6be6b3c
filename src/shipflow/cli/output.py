"""Terminal rendering shared by all commands: JSON, errors, progress bars, step summaries.

Text that reaches the terminal is never trusted: paths, image names, registry replies,
package names and advisory summaries come from users and servers. So both consoles

* interpret no rich markup unless a caller asks for it (``[bold]`` is printed as typed, and
  ``[/x]`` cannot crash the printer with a MarkupError), and
* escape control characters (ESC, BEL, CR, backspace, C1 codes, bidi overrides) as ``\\x1b``
  and the like, in strings, table cells and Text objects alike, so a hostile name cannot move
  the cursor, recolour the terminal or hide part of a line. Newlines and tabs are kept.

Styles shipflow adds itself (``error:`` in red) are rich ``Text`` styles, not markup.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from shipflow.errors import ShipflowError

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderableType
    from rich.progress import Progress, TaskID

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates ("Trojan Source"): none of them belongs in a line shipflow prints.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), newlines and tabs
    kept: what the user sees is what the string holds, and the terminal obeys none of it."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """:func:`safe_text` on one line (newlines become spaces): for messages that must be
    exactly one ``error:`` line."""
    return safe_text(" ".join(text.split("\n")).strip())


class SafeConsole(Console):
    """A rich Console that renders markup only when asked to and escapes control characters
    in everything it prints (strings, table cells, Text built elsewhere)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe_text(text), **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            # Text objects made by library code do not pass render_str: clean their segments.
            if segment.control is None and _UNSAFE.search(segment.text):
                yield Segment(safe_text(segment.text), segment.style)
            else:
                yield segment


# Human output goes to stdout; diagnostics and progress to stderr, so `--json` stays clean.
stdout = SafeConsole(soft_wrap=True, markup=False)
stderr = SafeConsole(stderr=True, soft_wrap=True, markup=False)


def print_json(data: Any) -> None:
    # json.dumps escapes control characters (ensure_ascii): JSON output is safe as it is.
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def print_failure(message: str, hint: str | None = None) -> None:
    """``error: MESSAGE`` and, if there is one, ``hint: HINT`` on stderr, as plain text."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", safe_text(message)), highlight=False)
    if hint:
        stderr.print(Text.assemble(("hint:", "dim"), " ", safe_text(hint)), highlight=False)


def print_error(exc: ShipflowError) -> None:
    print_failure(exc.message, exc.hint)


def note(message: str) -> None:
    stderr.print(message, highlight=False, markup=False)


class SafeLogFormatter(logging.Formatter):
    """Log lines with control characters escaped (a logged package name or server reply
    cannot drive the terminal); tracebacks keep their newlines."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record))


def step_summary(markdown: str) -> None:
    """Append to the GitHub Actions step summary when running in Actions."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip() + "\n\n")


def github_output(name: str, value: str) -> None:
    """Set a step output (``$GITHUB_OUTPUT``) when running in Actions."""
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{name}={value}\n")


class RichProgress:
    """A ProgressObserver that draws a byte progress bar on stderr (hidden when not a TTY)."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled and stderr.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, task: str, total_bytes: int | None) -> None:
        if not self._enabled:
            return
        if self._progress is None:
            # Imported here: rich.progress costs ≈ 20 ms, and most runs draw no bar (not a TTY).
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self._progress.start()
        self._task = self._progress.add_task(task, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, nbytes)

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False, markup=False)
        else:
            note(message)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None
