"""Running a command with a deadline, in its own process group, with its output captured and bounded.

Used for the user's migration command and for pg_dump/psql. The rules:

* argv only (no shell): a user who wants one passes ``sh -c '...'`` themselves;
* ``start_new_session=True``: the command and everything it starts share one process group,
  which is what gets killed — on the deadline, on Ctrl-C/SIGTERM of shipflow, and after the
  command exits (background jobs it left behind must not keep writing to the scratch database);
* the kill is SIGTERM to the group, then SIGKILL after a grace period; every child is waited for;
* stdout and stderr are merged into one stream and captured bounded: the first
  :data:`HEAD_BYTES` and the last :data:`TAIL_BYTES` are kept (errors are usually at the end),
  the rest is counted and replaced by a marker; the text is redacted before anyone sees it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shipflow.errors import UsageError
from shipflow.redact import redact

from .signals import signals_deferred

__all__ = ["HEAD_BYTES", "TAIL_BYTES", "BoundedOutput", "CommandResult", "run_bounded"]

HEAD_BYTES = 16 * 1024
TAIL_BYTES = 48 * 1024
KILL_GRACE_SECONDS = 5.0
_READ_CHUNK = 64 * 1024


class BoundedOutput:
    """Keeps the head and the tail of a byte stream and counts what was dropped between."""

    def __init__(self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> None:
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size > self._tail_limit:
            first = self._tail[0]
            excess = self._tail_size - self._tail_limit
            if len(first) <= excess:
                self._tail.popleft()
                self._tail_size -= len(first)
                self.dropped += len(first)
            else:
                self._tail[0] = first[excess:]
                self._tail_size -= excess
                self.dropped += excess

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        """The kept output as (redacted) text, with a marker where bytes were dropped."""
        head = bytes(self._head).decode("utf-8", errors="replace")
        tail = b"".join(self._tail).decode("utf-8", errors="replace")
        if self.dropped:
            return redact(f"{head}\n[... {self.dropped} bytes of output omitted ...]\n{tail}")
        return redact(head + tail)


@dataclass(frozen=True)
class CommandResult:
    """How a command ended. ``exit_code`` is negative when a signal ended it (``-9``)."""

    argv: tuple[str, ...]
    exit_code: int
    timed_out: bool
    duration_seconds: float
    output: str
    output_truncated: bool

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        """``exit 0``, ``exit 3``, ``killed by SIGKILL``, ``timed out after 30 s``."""
        if self.timed_out:
            return f"timed out after {self.duration_seconds:.0f} s (its process group was killed)"
        if self.exit_code < 0:
            try:
                name = signal.Signals(-self.exit_code).name
            except ValueError:
                name = f"signal {-self.exit_code}"
            return f"killed by {name}"
        return f"exit {self.exit_code}"


def run_bounded(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    stdin_path: Path | None = None,
    head: int = HEAD_BYTES,
    tail: int = TAIL_BYTES,
) -> CommandResult:
    """Run ``argv`` to completion or until ``timeout`` seconds pass, and return how it ended.

    A command that cannot be started (not found, not executable, bad ``cwd``) is a UsageError.
    KeyboardInterrupt (and its subclass for SIGTERM) kills the process group and propagates.
    """
    if not argv:
        raise UsageError("no command given", hint="name the command after --")
    started = time.monotonic()
    stdin_handle = open(stdin_path, "rb") if stdin_path is not None else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin_handle if stdin_handle is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = argv[0] if exc.filename in (None, argv[0]) else exc.filename
        raise UsageError(
            f"cannot run {argv[0]!r}: {missing} not found",
            hint="check the command name and PATH (and the working directory)",
        ) from exc
    except PermissionError as exc:
        raise UsageError(
            f"cannot run {argv[0]!r}: permission denied", hint="is the file executable?"
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot run {argv[0]!r}: {exc.strerror or exc}", hint="check the command") from exc
    finally:
        if stdin_handle is not None:
            stdin_handle.close()

    output = BoundedOutput(head, tail)
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, output), name="command-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        try:
            proc.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            timed_out = True
    finally:
        # Always: the leader may be gone but its group (background jobs) may not. On an
        # exception (Ctrl-C, SIGTERM) this runs before the exception leaves.
        with signals_deferred():  # a second Ctrl-C must not leave the group running
            _kill_group(proc)
        reader.join(timeout=KILL_GRACE_SECONDS)
        with contextlib.suppress(OSError):
            proc.stdout.close()
    return CommandResult(
        argv=tuple(argv),
        exit_code=proc.returncode if proc.returncode is not None else -int(signal.SIGKILL),
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
        output=output.text(),
        output_truncated=output.truncated,
    )


def _pump(stream: IO[bytes], output: BoundedOutput) -> None:
    try:
        while True:
            chunk = (
                stream.read1(_READ_CHUNK)
                if isinstance(stream, io.BufferedReader)
                else stream.read(_READ_CHUNK)
            )
            if not chunk:
                return
            output.feed(chunk)
    except (OSError, ValueError):
        return


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL it after a grace period, reap the leader."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    if not _signal_group(pgid, signal.SIGTERM):
        proc.wait()
        return
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a member changed its uid; nothing more to do
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """True while some process of the group exists and is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # killpg(…, 0) also succeeds for zombies (orphans PID 1 has not reaped on some machines);
    # look for a live member in /proc.
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - no procfs: assume alive until the deadline
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False
