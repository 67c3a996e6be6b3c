"""Turning SIGTERM into an exception, and holding signals off while cleanup runs.

Python turns SIGINT (Ctrl-C) into :class:`KeyboardInterrupt`, so ``finally`` blocks run; SIGTERM
(what CI runners, ``kill`` and container runtimes send) kills the process outright by default,
and a scratch database would be left behind. :func:`sigterm_as_exception` installs, for the
duration of a dry run, a handler that raises :class:`TerminationRequested` (a KeyboardInterrupt,
so every cleanup path that handles Ctrl-C handles it too) and restores the previous handler
afterwards. It only acts in the main thread, where Python delivers signals.

:func:`signals_deferred` blocks SIGINT and SIGTERM around a short critical section (dropping the
scratch database): a second Ctrl-C during the drop is held and delivered right after it, instead
of abandoning the drop half-way.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["TerminationRequested", "exit_status", "signals_deferred", "sigterm_as_exception"]

_DEFERRED = {signal.SIGINT, signal.SIGTERM}


class TerminationRequested(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM). Subclasses KeyboardInterrupt on purpose."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by signal {signal.Signals(signum).name}")
        self.signum = signum


def exit_status(exc: KeyboardInterrupt) -> int:
    """The conventional exit status for an interrupt: 128 + the signal number (130 for SIGINT,
    143 for SIGTERM)."""
    signum = exc.signum if isinstance(exc, TerminationRequested) else int(signal.SIGINT)
    return 128 + signum


def _raise_termination(signum: int, frame: FrameType | None) -> None:
    raise TerminationRequested(signum)


@contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM raises :class:`TerminationRequested`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_termination)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the calling thread until the block ends; a signal that
    arrived meanwhile is delivered (and raises) right after."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
