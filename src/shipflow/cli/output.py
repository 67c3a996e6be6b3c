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
from typing import IO, TYPE_CHECKING, Any

from shipflow.errors import ShipflowError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from shipflow.cli._console import SafeConsole

__all__ = [
    "UNSAFE_CHARACTERS",
    "LazyConsole",
    "RichProgress",
    "SafeConsole",
    "SafeLogFormatter",
    "github_output",
    "note",
    "one_line",
    "print_error",
    "print_failure",
    "print_json",
    "safe_text",
    "stderr",
    "stdout",
    "step_summary",
]

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates ("Trojan Source"): none of them belongs in a line shipflow prints.
UNSAFE_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), newlines and tabs
    kept: what the user sees is what the string holds, and the terminal obeys none of it."""
    return UNSAFE_CHARACTERS.sub(_escape, text)


def one_line(text: str) -> str:
    """:func:`safe_text` on one line (newlines become spaces): for messages that must be
    exactly one ``error:`` line."""
    return safe_text(" ".join(text.split("\n")).strip())


def __getattr__(name: str) -> Any:
    # SafeConsole subclasses rich's Console: importing it imports rich (40-90 ms here), so it is
    # loaded only when asked for (PEP 562).
    if name == "SafeConsole":
        from shipflow.cli._console import SafeConsole

        return SafeConsole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LazyConsole:
    """``stdout`` / ``stderr``: a :class:`SafeConsole` made on first real use.

    rich costs more to import than most commands take to run, and most output is a few plain
    lines to a pipe or file, where rich adds nothing: no colour, no wrapping (the consoles
    soft-wrap), no markup (off), no emoji codes (off). Such lines are written directly, as
    rich would write them. Everything else (tables, styled text on a terminal, progress,
    status spinners, any attribute of rich's Console) goes to the real console, created
    then; once it exists every print goes through it, so live displays stay consistent.
    """

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: SafeConsole | None = None

    @property
    def console(self) -> SafeConsole:
        """The rich console (created, and rich imported, on first use)."""
        if self._console is None:
            from shipflow.cli._console import SafeConsole

            self._console = SafeConsole(stderr=self._stderr, soft_wrap=True, markup=False, emoji=False)
        return self._console

    @property
    def file(self) -> IO[str]:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        if self._console is not None:
            return self._console.is_terminal
        return _looks_like_terminal(self.file)

    def writes_plain(self) -> bool:
        """Whether a plain line goes straight to the stream (rich is not needed for it)."""
        return self._console is None and not _looks_like_terminal(self.file)

    def write_plain(self, text: str, end: str = "\n") -> None:
        stream = self.file
        stream.write(safe_text(text) + end)
        stream.flush()

    def print(
        self,
        *objects: Any,
        sep: str = " ",
        end: str = "\n",
        style: Any = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if (
            not kwargs
            and markup is not True
            and all(isinstance(o, str) for o in objects)
            and self.writes_plain()
        ):
            text = sep.join(objects)
            if "\t" not in text:  # rich expands tabs to spaces: leave that to rich
                self.write_plain(text, end)
                return
        self.console.print(
            *objects, sep=sep, end=end, style=style, markup=markup, highlight=highlight, **kwargs
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def _looks_like_terminal(stream: IO[str]) -> bool:
    """rich's own test (``Console.is_terminal``) for a console on ``stream``, leaning to True:
    TTY_COMPATIBLE, FORCE_COLOR, then isatty."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:
        return False


# Human output goes to stdout; diagnostics and progress to stderr, so `--json` stays clean.
stdout = LazyConsole(stderr=False)
stderr = LazyConsole(stderr=True)


def print_json(data: Any) -> None:
    # json.dumps escapes control characters (ensure_ascii): JSON output is safe as it is.
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _labelled(label: str, style: str, text: str) -> None:
    """``LABEL: TEXT`` on stderr, the label styled on a terminal."""
    console: Any = stderr  # a LazyConsole, or a rich Console put in its place
    if isinstance(console, LazyConsole) and "\t" not in text and console.writes_plain():
        console.write_plain(f"{label} {text}")
        return
    from rich.text import Text

    console.print(Text.assemble((label, style), " ", safe_text(text)), highlight=False)


def print_failure(message: str, hint: str | None = None) -> None:
    """``error: MESSAGE`` and, if there is one, ``hint: HINT`` on stderr, as plain text."""
    _labelled("error:", "bold red", message)
    if hint:
        _labelled("hint:", "dim", hint)


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
                console=stderr.console,
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
