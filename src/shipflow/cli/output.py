"""Terminal rendering shared by all commands: JSON, errors, progress bars, step summaries."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from shipflow.errors import ShipflowError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# Human output goes to stdout; diagnostics and progress to stderr, so `--json` stays clean.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def print_error(exc: ShipflowError) -> None:
    # The message and the hint are user-controlled text (paths, registry replies): never markup.
    from rich.text import Text

    stderr.print(Text("error:", style="bold red") + Text(f" {exc.message}"), highlight=False)
    if exc.hint:
        stderr.print(Text("hint:", style="dim") + Text(f" {exc.hint}"), highlight=False)


def note(message: str) -> None:
    stderr.print(message, highlight=False, markup=False)


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
