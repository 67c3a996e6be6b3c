"""The ``local`` target: run the image itself, as a process on this host.

How an image runs here (no container engine needed):

1. its config is read (entrypoint + cmd, env, working directory, user, version label) and
   its layers are extracted once per digest into ``STATE_DIR/rootfs/<hex>``
   (:mod:`shipflow.release.deploy.rootfs`: verified, traversal-safe, whiteouts applied);
2. the previous process of the environment is stopped: SIGTERM to its process group, SIGKILL
   after ``stop_timeout``, and any process still rooted in its root filesystem is killed too;
3. the new one is started with util-linux ``unshare --root ROOTFS --wd WORKDIR [--setuid U
   --setgid G] -- ENTRYPOINT CMD…``: a chroot with the image's working directory and user, on
   the host network (no network namespace, so ``127.0.0.1:PORT`` reaches it), in a session and
   process group of its own, with the image's environment plus ``PORT`` (``deploy.port``),
   ``deploy.env`` and ``SHIPFLOW_IMAGE``/``SHIPFLOW_DIGEST``/``SHIPFLOW_REF``/``SHIPFLOW_ENV``
   — nothing from shipflow's own environment leaks in. Output goes to
   ``STATE_DIR/logs/ENV.log`` (truncated at each start);
4. the deploy waits (``start_timeout``) until the process listens on ``PORT``, fails at once
   if it exits, and refuses to start when ``PORT`` is already served by something that is not
   the environment's own previous process (a canary must never be health-checked through
   someone else's server);
5. ``STATE_DIR/ENV.json`` records pid, process start time, digest, port and root filesystem,
   so ``shipflow rollback`` in another process finds the process and stops it; a pid is only
   signalled when its start time still matches (a recycled pid is never killed).

It is not a container runtime: no cgroup limits, no network or PID namespace, no seccomp; the
process runs as root unless the image names a user. It needs root (``CAP_SYS_CHROOT``); as an
unprivileged user it adds ``--map-root-user`` (a user namespace) and ignores the image's user.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from shipflow.errors import ShipflowError
from shipflow.fsutil import atomic_write
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.redact import redact
from shipflow.release.deploy.base import (
    DeployError,
    Deployment,
    DeployRequest,
    DeployResult,
    validate_env_name,
)
from shipflow.release.deploy.rootfs import ImageRuntime, ensure_rootfs, image_runtime
from shipflow.release.deploy.settings import LocalSettings
from shipflow.timeutil import utc_timestamp

__all__ = ["LocalState", "LocalTarget"]

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LOCK_TIMEOUT = 120.0
_LOG_TAIL = 4000
_POLL = 0.01

# Processes this Python process started, so that stopping one also reaps it (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


@dataclass(frozen=True)
class LocalState:
    """The contents of ``STATE_DIR/ENV.json``."""

    env: str
    digest: str
    image: str
    pid: int | None
    start_ticks: int | None  # /proc/PID/stat field 22: tells a recycled pid apart
    port: int | None
    rootfs: str
    log: str
    started_at: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalState:
        return cls(
            env=str(data["env"]),
            digest=str(data["digest"]),
            image=str(data.get("image", "")),
            pid=int(data["pid"]) if data.get("pid") is not None else None,
            start_ticks=int(data["start_ticks"]) if data.get("start_ticks") is not None else None,
            port=int(data["port"]) if data.get("port") is not None else None,
            rootfs=str(data.get("rootfs", "")),
            log=str(data.get("log", "")),
            started_at=str(data.get("started_at", "")),
        )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of ``pid``, None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int | None, start_ticks: int | None) -> bool:
    if pid is None:
        return False
    info = _proc_stat(pid)
    if info is None or info[0] in ("Z", "X"):
        return False
    return start_ticks is None or info[1] == start_ticks


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _reap(pid: int) -> None:
    with _children_lock:
        proc = _children.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # ours only if we are its parent or subreaper


def _pids_rooted_in(rootfs: str) -> list[int]:
    """Every process whose root directory is ``rootfs`` (what is left of an old deploy)."""
    real = os.path.realpath(rootfs)
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{entry}/root") == real:
                found.append(int(entry))
    return found


class LocalTarget:
    name = "local"

    def __init__(self, store: Store, settings: LocalSettings) -> None:
        self._store = store
        self.settings = settings

    # -- state ---------------------------------------------------------------------------------

    def _state_path(self, env: str) -> Path:
        return self.settings.state_dir / f"{validate_env_name(env)}.json"

    def read_state(self, env: str) -> LocalState | None:
        path = self._state_path(env)
        try:
            data = json.loads(path.read_bytes()[:1_000_000])
            return LocalState.from_json(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable local deploy state %s: %s", path, exc)
            return None

    def _write_state(self, state: LocalState) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            self._state_path(state.env), json.dumps(state.to_json(), indent=2) + "\n", what="deploy state"
        )

    def _lock(self, env: str) -> FileLock:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.settings.state_dir / f".{env}.lock"), timeout=_LOCK_TIMEOUT)

    # -- stopping ------------------------------------------------------------------------------

    def _stop_state(self, state: LocalState) -> dict[str, Any]:
        """Stop the process of ``state``; what happened, for the result's details."""
        info: dict[str, Any] = {"pid": state.pid, "digest": state.digest}
        if state.pid is not None and _alive(state.pid, state.start_ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(state.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.settings.stop_timeout
            while time.monotonic() < deadline and _alive(state.pid, state.start_ticks):
                self._poll_child(state.pid)
                time.sleep(_POLL)
            if _alive(state.pid, state.start_ticks):
                info["killed"] = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(state.pid, signal.SIGKILL)
            info["stopped"] = True
        if state.pid is not None:
            _reap(state.pid)
        stray = [pid for pid in (_pids_rooted_in(state.rootfs) if state.rootfs else []) if pid != os.getpid()]
        for pid in stray:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
        if stray:
            info["stray_killed"] = stray
        return info

    @staticmethod
    def _poll_child(pid: int) -> None:
        with _children_lock:
            proc = _children.get(pid)
        if proc is not None:
            proc.poll()

    def stop(self, env: str) -> None:
        with self._locked(env):
            state = self.read_state(env)
            if state is None:
                return
            self._stop_state(state)
            self._write_state(
                LocalState(
                    state.env,
                    state.digest,
                    state.image,
                    None,
                    None,
                    state.port,
                    state.rootfs,
                    state.log,
                    state.started_at,
                )
            )

    @contextlib.contextmanager
    def _locked(self, env: str) -> Any:
        lock = self._lock(env)
        try:
            with lock:
                yield
        except Timeout as exc:
            raise DeployError(
                f"another shipflow process is deploying {env} locally (lock {lock.lock_file})",
                target=self.name,
                hint="wait for it to finish; remove the lock file only if no shipflow process runs",
            ) from exc

    # -- starting ------------------------------------------------------------------------------

    def _user_args(self, runtime: ImageRuntime, rootfs: Path) -> list[str]:
        if not runtime.user:
            return []
        if os.geteuid() != 0:
            log.warning(
                "not root: running %s as the mapped root user, not as %r", runtime.digest.short, runtime.user
            )
            return []
        user, _, group = runtime.user.partition(":")
        uid = _lookup(rootfs / "etc" / "passwd", user, 2)
        gid = _lookup(rootfs / "etc" / "group", group, 2) if group else _primary_gid(rootfs, user, uid)
        if uid is None:
            raise DeployError(
                f"the image's user {user!r} is not in its /etc/passwd",
                target=self.name,
                hint="set USER to a numeric uid or add the user to the image",
            )
        return ["--setuid", str(uid), "--setgid", str(gid if gid is not None else uid)]

    def _command(self, runtime: ImageRuntime, rootfs: Path) -> list[str]:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise DeployError(
                "the local target needs util-linux's unshare, which is not installed",
                target=self.name,
                hint="apt-get install util-linux (or use the command target)",
            )
        if not runtime.argv:
            raise DeployError(
                f"{runtime.digest.short} has neither an entrypoint nor a cmd: nothing to run",
                target=self.name,
                hint="add ENTRYPOINT or CMD to the image's Dockerfile",
            )
        argv = [unshare]
        if os.geteuid() != 0:
            argv.append("--map-root-user")
        argv += ["--root", str(rootfs), "--wd", runtime.workdir or "/"]
        argv += self._user_args(runtime, rootfs)
        return [*argv, "--", *runtime.argv]

    def _environment(self, runtime: ImageRuntime, request: DeployRequest) -> dict[str, str]:
        env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": socket.gethostname(), "HOME": "/"}
        env.update(dict(runtime.env))
        if self.settings.port is not None:
            env["PORT"] = str(self.settings.port)
        env.update(self.settings.env)
        env.update(
            SHIPFLOW_IMAGE=request.image,
            SHIPFLOW_DIGEST=str(request.digest),
            SHIPFLOW_REF=request.ref,
            SHIPFLOW_ENV=request.env,
        )
        return env

    def _switch(self, request: DeployRequest, verb: str) -> DeployResult:
        started = time.monotonic()
        try:
            runtime = image_runtime(self._store, request.digest, self.settings.platform)
            rootfs, extracted = ensure_rootfs(self._store, runtime, self.settings.state_dir)
        except DeployError:
            raise
        except ShipflowError as exc:
            raise DeployError(
                f"cannot prepare {request.digest.short} to run locally: {exc.message}",
                target=self.name,
                hint=exc.hint,
            ) from exc
        prepared = time.monotonic()
        with self._locked(request.env):
            old = self.read_state(request.env)
            stopped: dict[str, Any] | None = None
            if old is not None:
                stopped = self._stop_state(old)
            port = self.settings.port
            if port is not None and _port_open(port):
                raise DeployError(
                    f"port {port} is already in use by a process that is not {request.env}'s own: "
                    "refusing to start the image there (its health checks would reach the wrong server)",
                    target=self.name,
                    hint=f"stop whatever listens on 127.0.0.1:{port}, or choose another deploy.port",
                )
            log_dir = self.settings.state_dir / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{request.env}.log"
            argv = self._command(runtime, rootfs)
            with open(log_path, "wb") as log_file:
                try:
                    proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        env=self._environment(runtime, request),
                        start_new_session=True,
                        close_fds=True,
                    )
                except OSError as exc:
                    raise DeployError(
                        f"cannot start {argv[0]}: {exc.strerror or exc}", target=self.name
                    ) from exc
            with _children_lock:
                _children[proc.pid] = proc
            ticks = _proc_stat(proc.pid)
            state = LocalState(
                env=request.env,
                digest=str(request.digest),
                image=request.image,
                pid=proc.pid,
                start_ticks=ticks[1] if ticks else None,
                port=port,
                rootfs=str(rootfs),
                log=str(log_path),
                started_at=utc_timestamp(),
            )
            self._write_state(state)
            listening = self._wait_started(proc, port, log_path, request)
        finished = time.monotonic()
        details: dict[str, Any] = {
            "pid": proc.pid,
            "port": port,
            "rootfs": str(rootfs),
            "extracted": extracted,
            "log": str(log_path),
            "argv": list(runtime.argv),
            "version": runtime.version,
            "prepare_seconds": round(prepared - started, 4),
            "start_seconds": round(finished - prepared, 4),
            "listening": listening,
        }
        if stopped is not None:
            details["stopped"] = stopped
        summary = f"{verb}: {request.digest.short} runs as pid {proc.pid}"
        if port is not None:
            summary += f" on 127.0.0.1:{port}" + ("" if listening else " (not listening yet)")
        return DeployResult(
            target=self.name,
            env=request.env,
            digest=request.digest,
            seconds=finished - started,
            summary=summary,
            details=details,
        )

    def _wait_started(
        self, proc: subprocess.Popen[bytes], port: int | None, log_path: Path, request: DeployRequest
    ) -> bool:
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            code = proc.poll()
            if code is not None:
                with _children_lock:
                    _children.pop(proc.pid, None)
                raise DeployError(
                    f"{request.digest.short} exited with status {code} right after it started",
                    target=self.name,
                    output=_tail(log_path),
                    hint=f"its output is in {log_path}",
                )
            if port is None:
                return False
            if _port_open(port):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def deploy(self, request: DeployRequest) -> DeployResult:
        return self._switch(request, "deployed")

    def rollback(self, request: DeployRequest) -> DeployResult:
        return self._switch(request, "rolled back")

    def current(self, env: str) -> Deployment:
        state = self.read_state(env)
        if state is None:
            return Deployment(
                self.name, env, None, running=False, details={"state": str(self._state_path(env))}
            )
        running = _alive(state.pid, state.start_ticks)
        try:
            digest: Digest | None = Digest.parse(state.digest)
        except ShipflowError:
            digest = None
        return Deployment(
            self.name,
            env,
            digest,
            running=running,
            details={"pid": state.pid, "port": state.port, "log": state.log, "started_at": state.started_at},
        )


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _LOG_TAIL))
            return redact(handle.read().decode("utf-8", "replace"))
    except OSError:
        return ""


def _lookup(path: Path, name: str, column: int) -> int | None:
    """A numeric id, or the id of ``name`` in a passwd/group file of the image."""
    if name.isdigit():
        return int(name)
    try:
        lines = path.read_bytes()[:1_000_000].decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) > column and fields[0] == name and fields[column].isdigit():
            return int(fields[column])
    return None


def _primary_gid(rootfs: Path, user: str, uid: int | None) -> int | None:
    if user.isdigit():
        return uid
    return _lookup(rootfs / "etc" / "passwd", user, 3)
