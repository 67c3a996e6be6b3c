"""Files written all-or-nothing, and files read with a size cap.

Every file shipflow writes outside an OCI layout (keys, SBOMs, reports, configuration that
``init`` scaffolds) goes through :func:`atomic_write`: a temporary file with a unique name in
the same directory, flushed and fsynced, then renamed over the target, then the directory
fsynced. A reader never sees half a file, and a failure leaves the old file (or none).

Every file shipflow reads that a user names goes through :func:`read_capped`: it refuses to
read past a limit fitting the file's kind (a key is kilobytes, a predicate megabytes), so
``--key /dev/zero`` is an error, not 9 GB of memory.

Both translate ``OSError`` into shipflow's tree: a missing or unreadable input is a usage
error (exit 2), a write that fails (ENOSPC, EROFS, EACCES on the target) is an
infrastructure error (exit 3).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from shipflow.errors import InfrastructureError, UsageError

__all__ = ["atomic_write", "fsync_directory", "read_capped"]


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, *, mode: int = 0o644, what: str = "file") -> None:
    """Write ``data`` to ``path`` so that it is either entirely there or not changed at all.

    ``mode`` is applied to the temporary file before any byte is written (a private key is
    never readable by others, not even for a moment). Raises InfrastructureError naming the
    path and the OS reason when the write fails; nothing is left behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent if str(path.parent) else Path(".")
    temp: str | None = None
    try:
        import tempfile  # 10-15 ms of start-up (shutil, bz2, random): only when writing

        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        temp = None
        fsync_directory(directory)
    except OSError as exc:
        raise InfrastructureError(
            f"cannot write {what} {path}: {exc.strerror or exc}",
            hint=_write_hint(exc),
        ) from exc
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _write_hint(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full: free some space and run the command again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the directory is not writable: choose another path or fix its permissions"
    if exc.errno == errno.ENOENT:
        return "the directory does not exist: create it first"
    return "check the path, free space and permissions"


def read_capped(path: Path, limit: int, *, what: str = "file") -> bytes:
    """The bytes of ``path``, refusing anything larger than ``limit`` bytes.

    Devices and FIFOs are refused outright (``/dev/zero`` never ends, ``/dev/urandom`` neither);
    a regular file is read with at most ``limit + 1`` bytes in memory. Errors are usage errors:
    the user named the file.
    """
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(
                    f"{what} {path} is not a regular file",
                    hint=f"give the path of a {what} on disk",
                )
            if info.st_size > limit:
                raise UsageError(
                    f"{what} {path} is {info.st_size} bytes, more than the limit of {limit}",
                    hint=f"a {what} is at most {_human(limit)}: check that this is the right file",
                )
            # Read what fstat promised, plus one byte to notice growth: ``read(limit + 1)``
            # would allocate the whole limit up front (512 MiB for an SBOM of 60 bytes).
            data = handle.read(info.st_size + 1)
            while len(data) <= limit:
                more = handle.read(min(limit + 1 - len(data), 64 * 1024))
                if not more:
                    break
                data += more
    except IsADirectoryError as exc:
        raise UsageError(f"{what} {path} is a directory", hint=f"give the path of a {what} file") from exc
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path}: no such file or directory", hint="check the path") from exc
    except PermissionError as exc:
        raise UsageError(f"{what} {path}: permission denied", hint="check the file's permissions") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}", hint="check the path") from exc
    if len(data) > limit:  # the file grew while we read it
        raise UsageError(
            f"{what} {path} is more than the limit of {limit} bytes",
            hint=f"a {what} is at most {_human(limit)}",
        )
    return data


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"
