"""Subprocesses for deploy targets: a process group of their own, a deadline that kills the
whole group, and output captured with a bound (the head and the tail are kept, the middle is
dropped), so a chatty or hung deploy command can neither fill memory nor block a rollback.

Not :func:`shipflow.proc.run_bounded`, the house's runner for gates and migrations: that one
kills the command's whole process group when the command exits and closes the pipe after a
second, while a deploy command may legitimately leave a service running behind it (``nohup
./server &``, ``docker run -d``); here the group is only killed at the deadline, and the output
of what it left behind is read in the background instead of breaking its pipe.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipflow.redact import redact

__all__ = ["BoundedOutput", "CommandOutcome", "kill_group", "run_bounded"]

DEFAULT_OUTPUT_LIMIT = 64 * 1024
_KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a timed-out group
_DRAIN_AFTER_EXIT = 0.5  # a background child may hold the pipe open: stop reading after this


class BoundedOutput:
    """Keeps the first and the last ``limit / 2`` bytes written to it."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self._half = max(1, limit // 2)
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            room = self._half - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if not data:
                return
            self._tail += data
            excess = len(self._tail) - self._half
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def text(self) -> str:
        """The captured output as text, secrets masked, with a marker where bytes were dropped."""
        with self._lock:
            head = bytes(self._head).decode("utf-8", "replace")
            tail = bytes(self._tail).decode("utf-8", "replace")
            dropped = self._dropped
        middle = f"\n[… {dropped} bytes of output not kept …]\n" if dropped else ""
        return redact(head + middle + tail)


def _pump(fd: int, sink: BoundedOutput) -> None:
    """Copy from ``fd`` into ``sink`` until EOF, then close ``fd``. Raw ``os.read`` on a
    descriptor of its own: a buffered file object would hold its lock while blocked, and a
    background child that inherited the pipe could then block whoever closes it."""
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            sink.write(chunk)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class CommandOutcome:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the deadline
    seconds: float
    output: str
    timed_out: bool


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> CommandOutcome:
    """Run ``argv`` (no shell) in a new session; kill its process group at ``timeout``.

    Raises OSError when the program cannot be started (the caller translates it).
    """
    started = time.monotonic()
    sink = BoundedOutput(output_limit)
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    assert proc.stdout is not None
    fd = os.dup(proc.stdout.fileno())
    proc.stdout.close()
    reader = threading.Thread(target=_pump, args=(fd, sink), name="shipflow-deploy-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        returncode: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=_KILL_GRACE)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        returncode = None
    except BaseException:  # interrupted while waiting: never leave the group behind
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    reader.join(_DRAIN_AFTER_EXIT)  # a background child keeping the pipe open is not waited for
    return CommandOutcome(
        argv=tuple(argv),
        returncode=returncode,
        seconds=time.monotonic() - started,
        output=sink.text(),
        timed_out=timed_out,
    )
