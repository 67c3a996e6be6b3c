"""Running a user's command (a migration, smoke tests, a deploy) with bounds on everything.

* A deadline: when it passes, the whole process group gets SIGTERM, then SIGKILL after a grace
  period — a smoke script that forked a server cannot outlive its gate.
* Bounded output: stdout and stderr are captured together up to a limit; the head and the tail
  are kept (errors are usually at the end), the middle is counted, not stored.
* Ctrl-C and SIGTERM of shipflow itself kill the group too, before the exception goes on.
* Secrets are masked in the captured output (:func:`shipflow.redact.redact`).

Not a shell: ``argv`` is executed directly unless the caller passes ``["sh", "-c", text]``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipflow.errors import UsageError
from shipflow.redact import redact

__all__ = ["CommandResult", "run_bounded"]

DEFAULT_OUTPUT_LIMIT = 256 * 1024
_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the deadline
    output: str  # head … tail, redacted
    output_bytes: int  # how much the command wrote in all
    duration_seconds: float
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def describe(self) -> str:
        if self.timed_out:
            return f"timed out after {self.duration_seconds:.1f} s (process group killed)"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exited with {self.returncode}"


class _Capture:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - self.limit // 2
            if excess > 0:
                del self.tail[:excess]

    def text(self) -> str:
        kept = len(self.head) + len(self.tail)
        middle = f"\n[… {self.total - kept} bytes not shown …]\n" if self.total > kept else ""
        return redact(
            self.head.decode("utf-8", errors="replace") + middle + self.tail.decode("utf-8", errors="replace")
        )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, _GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> CommandResult:
    """Run ``argv`` to completion or to the deadline; never raises for the command's own
    failure (the result says how it ended). A command that cannot be started is a UsageError
    naming it (exit 2): the configuration names a program that is not there."""
    if not argv:
        raise UsageError("empty command")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # its own process group: the deadline kills all of it
        )
    except FileNotFoundError as exc:
        raise UsageError(
            f"cannot run {argv[0]!r}: no such program", hint="check the command in the configuration and PATH"
        ) from exc
    except PermissionError as exc:
        raise UsageError(f"cannot run {argv[0]!r}: permission denied", hint="make it executable") from exc
    except OSError as exc:
        raise UsageError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    capture = _Capture(output_limit)
    timed_out = False
    assert process.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = started + timeout
            open_pipe = True
            drain_until: float | None = None
            while open_pipe:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if drain_until is None and process.poll() is not None:
                    # The leader exited; a child it left behind may hold the pipe open.
                    drain_until = now + 1.0
                if drain_until is not None and now >= drain_until:
                    break
                for _key, _events in selector.select(timeout=min(deadline - now, 0.2)):
                    data = os.read(process.stdout.fileno(), 65536)
                    if not data:
                        open_pipe = False
                        break
                    capture.add(data)
            if not timed_out:
                left = deadline - time.monotonic()
                try:
                    process.wait(timeout=max(left, 0.001))
                except subprocess.TimeoutExpired:
                    timed_out = True
        if timed_out:
            _kill_group(process)
        else:
            # The leader exited; anything it left running in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    except BaseException:
        _kill_group(process)
        raise
    finally:
        process.stdout.close()
        if process.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
    return CommandResult(
        argv=tuple(argv),
        returncode=None if timed_out else process.returncode,
        output=capture.text(),
        output_bytes=capture.total,
        duration_seconds=time.monotonic() - started,
        timed_out=timed_out,
    )
