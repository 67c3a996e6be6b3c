"""Run a builder's subprocess with a deadline that kills its whole process group.

Builders start children of their own (buildah's RUN steps, docker's plugins); on a timeout
the group is killed, so nothing keeps running after shipflow gave up. Output is kept bounded:
only the last ``keep`` bytes of each stream are held.

Not :func:`shipflow.proc.run_bounded`: a build needs stdout and stderr apart (digests,
versions and JSON answers are read from stdout alone), every line as it comes (the build's
live STEP progress), and a timeout that is an error rather than a result.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shipflow.errors import InfrastructureError
from shipflow.redact import redact

__all__ = ["ProcResult", "ProcTimeout", "run"]

_KEEP = 64 * 1024


@dataclass(frozen=True)
class ProcResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 30) -> str:
        """The last lines of stderr (else stdout), redacted: for an error message."""
        text = self.stderr.strip() or self.stdout.strip()
        return redact("\n".join(text.splitlines()[-lines:]))


class ProcTimeout(InfrastructureError):
    """A subprocess ran past its deadline and was killed with its process group."""


class _Tail:
    """Collects a stream on a thread, keeping only its last ``keep`` bytes; hands each complete
    line (redacted, at most 1000 characters) to ``on_line`` as it arrives."""

    def __init__(self, stream: IO[bytes], keep: int, on_line: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._keep = keep
        self._on_line = on_line
        self._data = bytearray()
        self._partial = b""
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        read = getattr(self._stream, "read1", self._stream.read)  # read1: what is there, now
        for chunk in iter(lambda: read(65536), b""):
            self._data += chunk
            if len(self._data) > 2 * self._keep:
                del self._data[: len(self._data) - self._keep]
            if self._on_line is not None:
                self._lines(chunk)

    def _lines(self, chunk: bytes) -> None:
        assert self._on_line is not None
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        self._partial = self._partial[-4096:]
        for raw in complete:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if line:
                try:
                    self._on_line(redact(line[:1000]))
                except Exception:  # a broken listener must not stop the reader (the pipe would fill)
                    self._on_line = None
                    return

    def text(self) -> str:
        """What was read (its last ``keep`` bytes); closes the pipe once the reader is done.

        A grandchild that keeps the pipe open (a daemon the program started) would keep the
        reader waiting: after 5 s it is left to finish in the background.
        """
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._stream.close()
        return bytes(self._data[-self._keep :]).decode("utf-8", errors="replace")


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    keep: int = _KEEP,
    on_line: Callable[[str], None] | None = None,
) -> ProcResult:
    """Run ``argv`` to completion (stdin closed) within ``timeout`` seconds.

    Raises :class:`ProcTimeout` after killing the process group on a timeout, and
    InfrastructureError when the program cannot be started at all. ``on_line`` sees every line
    of both streams as it is written (progress), redacted.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise InfrastructureError(
            f"{argv[0]} is not installed", hint=f"install {Path(argv[0]).name}"
        ) from exc
    except OSError as exc:
        raise InfrastructureError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Tail(proc.stdout, keep, on_line), _Tail(proc.stderr, keep, on_line)
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise ProcTimeout(
            f"{Path(argv[0]).name} {' '.join(argv[1:3])} did not finish within {timeout:g} s; stopped",
            hint="raise the timeout (shipflow build --build-timeout) or look at what the build waits for",
        ) from exc
    except BaseException:  # KeyboardInterrupt: never leave the builder running
        _kill_group(proc)
        raise
    finally:
        stdout_text, stderr_text = out.text(), err.text()  # joins the readers, closes the pipes
    return ProcResult(tuple(argv), returncode, stdout_text, stderr_text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
