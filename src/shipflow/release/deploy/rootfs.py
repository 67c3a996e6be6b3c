"""An image's root filesystem on disk, for the ``local`` deploy target.

:func:`image_runtime` reads what an image runs (entrypoint, cmd, env, working directory, user,
the ``org.opencontainers.image.version`` label) from its config; :func:`ensure_rootfs`
extracts its layers once per digest under ``STATE_DIR/rootfs/<hex>``.

Extraction is careful, because an image is input from elsewhere:

* each layer streams from the store (whose digest check runs over every byte: the rest of a
  blob after the tar end is read too), is decompressed (gzip, zstd or plain by its magic
  bytes) and walked as a tar stream, with caps on decompressed bytes and on entries;
* names that climb out of the root are refused; absolute symlink targets are rewritten to the
  equivalent relative ones (the image sees the same thing inside its root, and nothing on the
  host is ever reached through them); then Python's ``tarfile`` *data* filter vets every
  member: no link leads out of the root, no setuid/setgid bits, no device nodes, no ownership
  taken from the archive (everything belongs to the user running shipflow);
* an existing entry is removed before a new one replaces it (a file is never written through
  an old symlink); OCI whiteouts (``.wh.NAME``) and opaque directories (``.wh..wh..opq``) are
  applied to lower layers only;
* everything happens in a temporary directory next to the final one, renamed into place only
  when complete and verified: a half-extracted root filesystem is never used.

The root filesystem is reused for later deploys of the same digest (a rollback starts the
previous version without extracting it again); what the program writes into it stays.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import platform as host_platform
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import (
    InfrastructureError,
    LayerFormatError,
    ManifestError,
    UnsafeContentError,
    UsageError,
)
from shipflow.oci.digest import Digest
from shipflow.oci.models import ImageConfig, ManifestBytes
from shipflow.oci.store import Store
from shipflow.sbom.layers import ChunkStream, normalise_member_name, open_decompressed, read_errors

__all__ = [
    "ImageRuntime",
    "RootfsLimits",
    "ensure_rootfs",
    "extract_layers",
    "host_platform_name",
    "image_manifest",
    "image_runtime",
]

log = logging.getLogger(__name__)

VERSION_LABEL = "org.opencontainers.image.version"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class RootfsLimits:
    max_total_bytes: int = 16 * 1024**3  # decompressed, all layers together
    max_entries: int = 2_000_000


@dataclass(frozen=True)
class ImageRuntime:
    """What an image runs and how, from its config (docker/OCI semantics)."""

    digest: Digest  # the digest that was asked for (may be an index)
    manifest: ManifestBytes  # the platform's image manifest
    argv: tuple[str, ...]  # entrypoint + cmd
    env: tuple[tuple[str, str], ...]
    workdir: str
    user: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        return self.labels.get(VERSION_LABEL)


def host_platform_name() -> str:
    machine = host_platform.machine().lower()
    return f"linux/{_ARCH.get(machine, machine)}"


def _read_small_blob(store: Store, digest: Digest, size: int, what: str) -> bytes:
    if size > MAX_CONFIG_BYTES:
        raise ManifestError(f"{what} {digest.short} is {size} bytes, over the {MAX_CONFIG_BYTES} byte limit")
    data = bytearray()
    with store.open_blob(digest) as chunks:
        for chunk in chunks:
            data += chunk
            if len(data) > MAX_CONFIG_BYTES:
                raise ManifestError(f"{what} {digest.short} is larger than its descriptor says")
    return bytes(data)


def image_manifest(store: Store, digest: Digest, platform: str | None = None) -> ManifestBytes:
    """The image manifest of ``digest``; for an index, the one for ``platform`` (default: this host's)."""
    top = store.get_manifest(str(digest))
    if not top.is_index:
        return top
    wanted = platform or host_platform_name()
    parts = wanted.split("/")
    for descriptor in top.as_index().manifests:
        plat = descriptor.platform
        if plat is None or plat.os != parts[0] or plat.architecture != parts[1]:
            continue
        if len(parts) > 2 and plat.variant != parts[2]:
            continue
        return store.get_manifest(str(descriptor.digest))
    raise UsageError(
        f"{store.name}@{digest} has no {wanted} image",
        hint="the local target runs images for this machine's platform; set deploy.platform to override",
    )


def image_runtime(store: Store, digest: Digest, platform: str | None = None) -> ImageRuntime:
    """Read what ``digest`` runs from its image config."""
    manifest = image_manifest(store, digest, platform)
    descriptor = manifest.as_manifest().config
    raw = _read_small_blob(store, descriptor.digest, descriptor.size, "image config")
    try:
        config = ImageConfig.from_json(raw)
    except ValueError as exc:
        raise ManifestError(f"the image config of {digest.short} is malformed: {exc}") from exc
    section: dict[str, Any] = config.config or {}
    entrypoint = _str_list(section.get("Entrypoint"))
    cmd = _str_list(section.get("Cmd"))
    env: list[tuple[str, str]] = []
    for item in _str_list(section.get("Env")):
        name, sep, value = item.partition("=")
        if sep and name:
            env.append((name, value))
    labels = section.get("Labels") or {}
    if not isinstance(labels, dict):
        labels = {}
    return ImageRuntime(
        digest=digest,
        manifest=manifest,
        argv=tuple(entrypoint + cmd),
        env=tuple(env),
        workdir=str(section.get("WorkingDir") or "/"),
        user=str(section.get("User") or ""),
        labels={str(k): str(v) for k, v in labels.items()},
    )


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return []


# -- extraction ----------------------------------------------------------------------------------


class _Counted(io.RawIOBase):
    """Counts decompressed bytes against the budget as ``tarfile`` reads them."""

    def __init__(self, stream: Any, budget: _Budget, layer: str) -> None:
        self._stream = stream
        self._budget = budget
        self._layer = layer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._budget.spend(n, self._layer)
        return n


class _Budget:
    def __init__(self, limits: RootfsLimits) -> None:
        self.limits = limits
        self.bytes = 0
        self.entries = 0

    def spend(self, n: int, layer: str) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise UnsafeContentError(
                f"layer {layer} expands past {self.limits.max_total_bytes} bytes in total "
                "(a decompression bomb, or an image too large for the local target); stopped",
                hint="the local target is meant for small services; use the command target for big images",
            )

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise UnsafeContentError(f"the image has more than {self.limits.max_entries} files; stopped")


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` with every symlink resolved, refusing a path that resolves outside ``root``."""
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, rel))
    if os.path.commonpath([real_root, candidate]) != real_root:
        raise UnsafeContentError(
            f"{rel!r} resolves outside the image root", hint="the image is malicious or broken"
        )
    return Path(candidate)


def _remove(path: Path) -> None:
    """Remove a file, link or directory tree without following a final symlink."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _relative_link(parent_depth: int, target: str) -> str:
    """An absolute symlink target, rewritten relative to the link's real directory
    (``parent_depth`` components below the root): the same file inside the root, and never
    anything outside it when seen from the host."""
    target_parts = [p for p in target.split("/") if p not in ("", ".")]
    return "/".join([".."] * parent_depth + target_parts) or "."


def _filter_for(name: str, parent_depth: int) -> Any:
    def member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        member = member.replace(name=name, deep=False)
        if member.issym() and member.linkname.startswith("/"):
            member = member.replace(linkname=_relative_link(parent_depth, member.linkname), deep=False)
        if member.islnk():
            member = member.replace(
                linkname="/".join(normalise_member_name(member.linkname, "hardlink")), deep=False
            )
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as exc:
            raise UnsafeContentError(
                f"unsafe entry {member.name!r} in the image: {exc}",
                hint="the image is malicious or broken; do not run it",
            ) from exc

    return member_filter


def _apply_whiteout(root: Path, parts: list[str], written: set[str]) -> None:
    base = parts[-1]
    parent_rel = "/".join(parts[:-1])
    if base == _OPAQUE:
        directory = _inside(root, parent_rel) if parent_rel else Path(os.path.realpath(root))
        _prune_opaque(root, directory, parent_rel, written)
        return
    if base.startswith(_WHITEOUT + _WHITEOUT):
        return  # other aufs metadata (.wh..wh.plnk): not part of the filesystem
    rel = "/".join([*parts[:-1], base[len(_WHITEOUT) :]])
    if rel in written:
        return  # a whiteout only hides lower layers
    parent = _inside(root, parent_rel) if parent_rel else Path(os.path.realpath(root))
    _remove(parent / base[len(_WHITEOUT) :])


def _prune_opaque(root: Path, directory: Path, rel: str, written: set[str]) -> None:
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in list(os.scandir(directory)):
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        keeps = child_rel in written or any(w.startswith(child_rel + "/") for w in written)
        if not keeps:
            _remove(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False):
            _prune_opaque(root, Path(entry.path), child_rel, written)


def _extract_member(archive: tarfile.TarFile, member: tarfile.TarInfo, root: Path, parts: list[str]) -> None:
    real_root = os.path.realpath(root)
    parent_rel = "/".join(parts[:-1])
    parent = _inside(root, parent_rel) if parent_rel else Path(real_root)
    target = parent / parts[-1]
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(target)
        # A directory merges with a directory; anything else replaces what was there.
        if not (member.isdir() and stat.S_ISDIR(info.st_mode)):
            _remove(target)
    if member.ischr() or member.isblk() or member.isfifo():
        log.debug("skipping device node or fifo %s in the image", "/".join(parts))
        return
    real_parent = os.path.relpath(parent, real_root)
    depth = 0 if real_parent == "." else len(real_parent.split("/"))
    name = parts[-1] if real_parent == "." else f"{real_parent}/{parts[-1]}"
    archive.extract(member, path=real_root, filter=_filter_for(name, depth))


def extract_layers(
    store: Store, manifest: ManifestBytes, root: Path, limits: RootfsLimits | None = None
) -> None:
    """Apply every layer of ``manifest`` to the (empty) directory ``root``, in order."""
    budget = _Budget(limits or RootfsLimits())
    for layer in manifest.as_manifest().layers:
        layer_name = layer.digest.short
        written: set[str] = set()
        with store.open_blob(layer.digest) as chunks:
            source = ChunkStream(iter(chunks))
            raw = io.BufferedReader(source, buffer_size=_CHUNK)
            try:
                stream = io.BufferedReader(
                    _Counted(open_decompressed(raw, layer.media_type, layer_name), budget, layer_name), _CHUNK
                )
                if stream.peek(1):
                    with tarfile.open(fileobj=stream, mode="r|") as archive:
                        for member in archive:
                            budget.entry()
                            parts = normalise_member_name(member.name, layer_name)
                            if not parts:
                                continue
                            if parts[-1].startswith(_WHITEOUT):
                                _apply_whiteout(root, parts, written)
                                continue
                            _extract_member(archive, member, root, parts)
                            written.add("/".join(parts))
                source.drain()
            except _extraction_errors() as exc:
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise InfrastructureError(f"no space left while extracting {layer_name}: {exc}") from exc
                raise LayerFormatError(
                    f"layer {layer_name} cannot be extracted: {exc}",
                    hint="the layer is corrupt or in an unsupported format (gzip, zstd or plain tar)",
                ) from exc


def _extraction_errors() -> tuple[type[BaseException], ...]:
    """What a broken layer or a full disk raises while extracting; evaluated when one is raised,
    so that zstandard's error is included once a zstd layer has imported it."""
    return (*read_errors(), OSError)


def _prepare_runtime(root: Path) -> None:
    """What a container runtime would provide: /tmp, /dev basics, /etc/hosts, /etc/resolv.conf."""
    real = Path(os.path.realpath(root))
    for name, mode in (("tmp", 0o1777), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555)):
        path = _inside(real, name)
        if not path.exists():
            path.mkdir(mode=mode)
            path.chmod(mode)
    if os.geteuid() == 0:
        dev = _inside(real, "dev")
        for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8), ("urandom", 1, 9)):
            node = dev / name
            if not os.path.lexists(node):
                with contextlib.suppress(OSError):
                    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                    os.chmod(node, 0o666)  # noqa: S103 (what /dev/null is everywhere)
    etc = _inside(real, "etc")
    for name in ("hosts", "resolv.conf"):
        host_file = Path("/etc") / name
        target = etc / name
        if host_file.is_file() and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                shutil.copyfile(host_file, target)


def ensure_rootfs(
    store: Store, runtime: ImageRuntime, state_dir: Path, limits: RootfsLimits | None = None
) -> tuple[Path, bool]:
    """The extracted root filesystem of ``runtime``'s image: ``(path, extracted_now)``."""
    base = state_dir / "rootfs"
    final = base / runtime.manifest.digest.hex
    if final.is_dir():
        return final, False
    try:
        base.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{runtime.manifest.digest.hex[:12]}.", dir=base))
    except OSError as exc:
        raise InfrastructureError(
            f"cannot create {base}: {exc.strerror or exc}", hint="check state_dir"
        ) from exc
    try:
        os.chmod(work, 0o755)  # noqa: S103 (a root filesystem's / is world-readable)
        extract_layers(store, runtime.manifest, work, limits)
        _prepare_runtime(work)
        try:
            os.rename(work, final)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and final.is_dir():
                return final, False  # another process finished the same extraction first
            raise InfrastructureError(f"cannot move the root filesystem into place: {exc}") from exc
        return final, True
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
