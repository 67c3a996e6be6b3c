"""Builder backends behind one interface: buildah (daemonless) and docker buildx.

A :class:`Builder` turns one :class:`BuildRequest` (context, Dockerfile, build arguments,
labels, platform, a fixed timestamp) into an OCI image layout on disk and reports the digest;
:func:`shipflow.build.build_image` then copies it into the store (layout or registry) with
shipflow's own verified copy, so both backends end the same way.

:class:`BuilderChoice` is what users pick (``--builder``); :func:`builder_for` maps every choice
to its backend (``assert_never`` keeps the mapping complete; a test checks every choice is
wired). ``auto`` takes buildah where it is installed, else docker buildx where a Docker daemon
answers.

buildah here (Debian 12, no container runtime that works in this VM, no daemon) runs with
``--isolation chroot`` and the ``vfs`` storage driver, in a private storage root that is
removed after the build unless ``storage_root`` names one to keep (base images then stay
cached between builds). ``--timestamp`` makes its output reproducible: the same inputs give the
same digest. docker buildx gets ``SOURCE_DATE_EPOCH`` and ``rewrite-timestamp=true`` (BuildKit
>= 0.13) for the same effect, and exports an OCI layout (``type=oci,tar=false``), which needs a
builder with the docker-container driver (``docker buildx create --use``, or
``docker/setup-buildx-action`` on GitHub): docker's default driver cannot export OCI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform as _platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, assert_never

from shipflow.build import _proc
from shipflow.build.errors import BuilderUnavailable, BuildFailed
from shipflow.errors import InfrastructureError
from shipflow.oci.digest import Digest

__all__ = [
    "BuildRequest",
    "BuildahBuilder",
    "Builder",
    "BuilderChoice",
    "BuilderOptions",
    "BuilderOutput",
    "BuildxBuilder",
    "builder_for",
    "detect_builder",
    "host_platform",
]

log = logging.getLogger(__name__)

_QUICK_TIMEOUT = 60.0
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm/v7"}


def host_platform() -> str:
    """This machine's platform in OCI form (``linux/amd64``): the default build platform."""
    machine = _platform.machine().lower()
    return f"linux/{_ARCH.get(machine, machine)}"


class BuilderChoice(StrEnum):
    """The ``--builder`` choices."""

    AUTO = "auto"
    BUILDAH = "buildah"
    BUILDX = "buildx"


@dataclass(frozen=True, kw_only=True)
class BuilderOptions:
    """How to run the builders (binaries, buildah's isolation and storage)."""

    buildah: str = "buildah"
    docker: str = "docker"
    isolation: str = "chroot"  # buildah --isolation: chroot works without a container runtime
    storage_driver: str = "vfs"  # buildah --storage-driver: vfs works on any filesystem
    storage_root: Path | None = None  # keep buildah's storage here; None: a private one per build
    environ: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> BuilderOptions:
        """Defaults, then ``BUILDAH_ISOLATION``, ``STORAGE_DRIVER`` (buildah's own variables) and
        ``SHIPFLOW_BUILDAH_ROOT``, then ``overrides`` (flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("BUILDAH_ISOLATION"):
            values["isolation"] = env["BUILDAH_ISOLATION"]
        if env.get("STORAGE_DRIVER"):
            values["storage_driver"] = env["STORAGE_DRIVER"]
        if env.get("SHIPFLOW_BUILDAH_ROOT"):
            values["storage_root"] = Path(env["SHIPFLOW_BUILDAH_ROOT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    """One build, fully resolved: nothing left for the builder to guess."""

    context: Path
    dockerfile: Path
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    platform: str
    target: str | None = None
    timestamp: int  # SOURCE_DATE_EPOCH: the image's created time and every file's mtime
    name: str  # a local name for the image while it is built (buildah: the storage name)
    output: Path  # the OCI layout directory to write (created by the builder)
    timeout: float = 3600.0
    on_output: Callable[[str], None] | None = field(default=None, compare=False)  # builder lines


@dataclass(frozen=True)
class BuilderOutput:
    """What a builder produced: an OCI layout holding the image, and the image's digest."""

    layout: Path
    digest: Digest
    base_digests: Mapping[str, Digest]  # base reference -> digest the builder used, where it can tell


class Builder(Protocol):
    """A builder backend. Use as a context manager: ``close`` removes its temporary state."""

    @property
    def name(self) -> str: ...

    @property
    def reports_base_digests(self) -> bool:
        """Whether :meth:`build` says which digest of each base image it used (else shipflow
        resolves registry bases itself just before the build)."""
        ...

    def version(self) -> str:
        """The builder's version (recorded in the provenance)."""
        ...

    def build(self, request: BuildRequest, bases: Mapping[str, Digest | None]) -> BuilderOutput:
        """Build ``request`` into ``request.output``.

        ``bases`` are the Dockerfile's external base images with the digest shipflow resolved
        beforehand (None where it could not: the builder pulls those itself). The output's
        ``base_digests`` holds the digest the builder really used for each base it can tell.
        """
        ...

    def close(self) -> None: ...


def _which(binary: str) -> str | None:
    return shutil.which(binary)


def detect_builder(options: BuilderOptions) -> BuilderChoice:
    """``auto``: buildah where installed, else docker buildx where a daemon answers."""
    if _which(options.buildah):
        return BuilderChoice.BUILDAH
    if _which(options.docker) and _docker_answers(options):
        return BuilderChoice.BUILDX
    raise BuilderUnavailable(
        "no image builder found: neither buildah nor a Docker daemon with buildx",
        hint="install buildah (apt-get install -y buildah) — no daemon needed — or start Docker",
    )


def _docker_answers(options: BuilderOptions) -> bool:
    try:
        result = _proc.run(
            [options.docker, "buildx", "version"], timeout=_QUICK_TIMEOUT, env=_env(options.environ)
        )
        if not result.ok:
            return False
        info = _proc.run(
            [options.docker, "info", "--format", "{{.ServerVersion}}"],
            timeout=_QUICK_TIMEOUT,
            env=_env(options.environ),
        )
    except InfrastructureError:
        return False
    return info.ok and bool(info.stdout.strip())


def builder_for(choice: BuilderChoice, options: BuilderOptions | None = None) -> Builder:
    """The backend for ``choice`` (``auto`` detects one)."""
    opts = options or BuilderOptions()
    match choice:
        case BuilderChoice.AUTO:
            return builder_for(detect_builder(opts), opts)
        case BuilderChoice.BUILDAH:
            return BuildahBuilder(opts)
        case BuilderChoice.BUILDX:
            return BuildxBuilder(opts)
        case _:
            assert_never(choice)


def _env(environ: Mapping[str, str] | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.update(extra)
    return env


def _kv_flags(flag: str, items: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for key, value in sorted(items.items()):
        out += [flag, f"{key}={value}"]
    return out


def _read_digest(path: Path, what: str) -> Digest:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InfrastructureError(f"{what} wrote no digest file ({exc.strerror})") from exc
    try:
        return Digest.parse(text)
    except Exception as exc:
        raise InfrastructureError(f"{what} wrote an unexpected digest {text[:80]!r}") from exc


# --- buildah -------------------------------------------------------------------------------


class BuildahBuilder:
    """buildah, daemonless: ``bud`` into a storage root, then ``push`` to an OCI layout."""

    name = "buildah"
    reports_base_digests = True

    def __init__(self, options: BuilderOptions) -> None:
        found = _which(options.buildah)
        if found is None:
            raise BuilderUnavailable(
                f"{options.buildah} is not installed", hint="install buildah: apt-get install -y buildah"
            )
        self.binary = found
        self.options = options
        self._workdir = Path(tempfile.mkdtemp(prefix="shipflow-buildah-"))
        (self._workdir / "tmp").mkdir()
        if options.storage_root is None:
            self.root = self._workdir / "storage"
            self.runroot = self._workdir / "run"
            self.ephemeral = True
        else:
            self.root = options.storage_root
            self.runroot = Path(str(options.storage_root) + "-run")
            self.ephemeral = False
        self._version: str | None = None

    def __enter__(self) -> BuildahBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # command construction (unit-tested) -------------------------------------------------

    def global_args(self) -> list[str]:
        return [
            self.binary,
            "--storage-driver",
            self.options.storage_driver,
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
        ]

    def bud_command(self, request: BuildRequest, iidfile: Path) -> list[str]:
        cmd = [
            *self.global_args(),
            "bud",
            "--isolation",
            self.options.isolation,
            "--timestamp",
            str(request.timestamp),
            "--identity-label=false",  # no io.buildah.version label: digests independent of buildah's version
            "--format",
            "oci",
            "--platform",
            request.platform,
            "--iidfile",
            str(iidfile),
            "-f",
            str(request.dockerfile),
            "-t",
            request.name,
        ]
        cmd += _kv_flags("--build-arg", request.build_args)
        cmd += _kv_flags("--label", request.labels)
        if request.target:
            cmd += ["--target", request.target]
        cmd.append(str(request.context))
        return cmd

    def push_command(self, request: BuildRequest, digestfile: Path) -> list[str]:
        return [
            *self.global_args(),
            "push",
            "--quiet",
            "--format",
            "oci",
            "--digestfile",
            str(digestfile),
            request.name,
            f"oci:{request.output}:latest",
        ]

    def _environ(self) -> dict[str, str]:
        # buildah stages big temporary files in TMPDIR (default /var/tmp): keep them in ours.
        return _env(self.options.environ, TMPDIR=str(self._workdir / "tmp"))

    # running ----------------------------------------------------------------------------

    def version(self) -> str:
        if self._version is None:
            result = _proc.run(
                [self.binary, "version", "--json"], timeout=_QUICK_TIMEOUT, env=self._environ()
            )
            version = ""
            if result.ok:
                import json

                with contextlib.suppress(ValueError, AttributeError):
                    version = str(json.loads(result.stdout).get("version", ""))
            self._version = version or "unknown"
        return self._version

    def build(self, request: BuildRequest, bases: Mapping[str, Digest | None]) -> BuilderOutput:
        iidfile = self._workdir / "iid"
        digestfile = self._workdir / "digest"
        bud = _proc.run(
            self.bud_command(request, iidfile),
            timeout=request.timeout,
            env=self._environ(),
            on_line=request.on_output,
        )
        if not bud.ok:
            raise BuildFailed(
                f"buildah bud failed (exit {bud.returncode}):\n{bud.tail()}",
                output=bud.tail(200),
                hint="fix the Dockerfile or the context; the lines above are buildah's",
            )
        push = _proc.run(self.push_command(request, digestfile), timeout=request.timeout, env=self._environ())
        if not push.ok:
            raise InfrastructureError(
                f"buildah push to {request.output} failed (exit {push.returncode}):\n{push.tail()}",
                hint="check free disk space in TMPDIR",
            )
        digest = _read_digest(digestfile, "buildah push")
        base_digests: dict[str, Digest] = {}
        stored: set[str] | None = None
        for ref, expected in bases.items():
            used = self._image_digest(ref)
            if used is None and expected is not None:
                # A layout base: buildah stores it under a name of its own; find it by digest.
                stored = self.stored_digests() if stored is None else stored
                used = expected if str(expected) in stored else None
            if used is not None:
                base_digests[ref] = used
        if not self.ephemeral:  # keep base images cached, but not every build's result
            _proc.run([*self.global_args(), "rmi", request.name], timeout=_QUICK_TIMEOUT, env=self._environ())
        return BuilderOutput(request.output, digest, base_digests)

    def stored_digests(self) -> set[str]:
        """Manifest digests of every image in buildah's storage (base images included)."""
        result = _proc.run(
            [*self.global_args(), "images", "--all", "--digests", "--format", "{{.Digest}}"],
            timeout=_QUICK_TIMEOUT,
            env=self._environ(),
        )
        return {line.strip() for line in result.stdout.splitlines() if line.strip()} if result.ok else set()

    def _image_digest(self, ref: str) -> Digest | None:
        """The digest of the image buildah stored for base reference ``ref`` (None: unknown)."""
        if ref.startswith("oci:"):
            return None  # a layout base is resolved by shipflow itself and checked in storage
        result = _proc.run(
            [*self.global_args(), "inspect", "--type", "image", "--format", "{{.FromImageDigest}}", ref],
            timeout=_QUICK_TIMEOUT,
            env=self._environ(),
        )
        if not result.ok:
            return None
        try:
            return Digest.parse(result.stdout.strip())
        except Exception:
            return None

    def close(self) -> None:
        """Remove working containers; with a private storage root, unmount and delete it all."""
        if not self._workdir.exists():
            return
        if self.root.exists():  # nothing to remove when nothing was built
            with contextlib.suppress(InfrastructureError):
                _proc.run([*self.global_args(), "rm", "--all"], timeout=_QUICK_TIMEOUT, env=self._environ())
        if self.ephemeral:
            leftover = _mounts_below(self._workdir)
            for mount_point in sorted(leftover, key=len, reverse=True):
                subprocess.run(["umount", "--lazy", mount_point], check=False, capture_output=True)
            still = _mounts_below(self._workdir)
            if still:
                # Never delete through a mount point: that could reach files outside the build.
                log.warning("buildah left mounts under %s; not deleting it: %s", self._workdir, still)
                return
        shutil.rmtree(self._workdir, ignore_errors=True)


def _mounts_below(directory: Path) -> list[str]:
    prefix = str(directory.resolve())
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 1:
            point = fields[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points


# --- docker buildx -------------------------------------------------------------------------


class BuildxBuilder:
    """``docker buildx build`` exporting an OCI layout (needs a Docker daemon with buildx)."""

    name = "buildx"
    reports_base_digests = False

    def __init__(self, options: BuilderOptions) -> None:
        found = _which(options.docker)
        if found is None:
            raise BuilderUnavailable(
                f"{options.docker} is not installed",
                hint="install Docker with the buildx plugin, or use --builder buildah",
            )
        self.binary = found
        self.options = options
        self._workdir = Path(tempfile.mkdtemp(prefix="shipflow-buildx-"))
        self._version: str | None = None

    def __enter__(self) -> BuildxBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build_command(self, request: BuildRequest, metadata_file: Path) -> list[str]:
        cmd = [
            self.binary,
            "buildx",
            "build",
            "--file",
            str(request.dockerfile),
            "--platform",
            request.platform,
            # shipflow writes its own signed SLSA provenance; BuildKit's unsigned attestation
            # manifests would turn the image into an index.
            "--provenance=false",
            "--sbom=false",
            "--output",
            f"type=oci,dest={request.output},tar=false,rewrite-timestamp=true",
            "--metadata-file",
            str(metadata_file),
        ]
        cmd += _kv_flags("--build-arg", request.build_args)
        cmd += _kv_flags("--label", request.labels)
        if request.target:
            cmd += ["--target", request.target]
        cmd.append(str(request.context))
        return cmd

    def build_environ(self, request: BuildRequest) -> dict[str, str]:
        # BuildKit reads SOURCE_DATE_EPOCH from the client's environment (buildx >= 0.10).
        return _env(self.options.environ, SOURCE_DATE_EPOCH=str(request.timestamp))

    def version(self) -> str:
        if self._version is None:
            result = _proc.run(
                [self.binary, "buildx", "version"], timeout=_QUICK_TIMEOUT, env=_env(self.options.environ)
            )
            self._version = result.stdout.strip().split("\n")[0] if result.ok else "unknown"
        return self._version

    def build(self, request: BuildRequest, bases: Mapping[str, Digest | None]) -> BuilderOutput:
        metadata = self._workdir / "metadata.json"
        result = _proc.run(
            self.build_command(request, metadata),
            timeout=request.timeout,
            env=self.build_environ(request),
            on_line=request.on_output,
        )
        if not result.ok:
            hint = "fix the Dockerfile or the context; the lines above are BuildKit's"
            if "exporter" in result.stderr and "not supported" in result.stderr:
                hint = "create a builder that can export OCI layouts: docker buildx create --use"
            raise BuildFailed(
                f"docker buildx build failed (exit {result.returncode}):\n{result.tail()}",
                output=result.tail(200),
                hint=hint,
            )
        # BuildKit pulled what shipflow resolved just before (its own provenance is off).
        resolved = {ref: digest for ref, digest in bases.items() if digest is not None}
        return BuilderOutput(request.output, self.digest_from_metadata(metadata), resolved)

    @staticmethod
    def digest_from_metadata(path: Path) -> Digest:
        """``containerimage.digest`` from buildx's ``--metadata-file``."""
        import json

        try:
            data = json.loads(path.read_text())
            return Digest.parse(str(data["containerimage.digest"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InfrastructureError(
                f"docker buildx wrote no usable metadata file ({exc})",
                hint="use buildx >= 0.10 (it writes containerimage.digest)",
            ) from exc

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)
