"""Java archives: ``.jar``, ``.war``, ``.ear`` (and the other zip-based Java packagings),
with the archives nested in them (``WEB-INF/lib/*.jar``, ``BOOT-INF/lib/*.jar``, an EAR's
modules).

What identifies the packages in an archive:

* every ``META-INF/maven/GROUP/ARTIFACT/pom.properties`` (``groupId``, ``artifactId``,
  ``version``): Maven writes one for the artifact it builds, and shading plugins keep those of
  the artifacts they fold in — each is a package;
* without any, ``META-INF/MANIFEST.MF`` and the file name: the artifact id and version from a
  ``NAME-VERSION.jar`` file name, the version preferably from ``Implementation-Version``,
  ``Bundle-Version`` or ``Specification-Version``, the group from ``Implementation-Vendor-Id``
  or an OSGi ``Bundle-SymbolicName`` that ends in the artifact id. Without a group the package
  is named by its artifact id alone (OSV's Maven advisories name ``group:artifact``, so it
  matches none).

Packages are named ``groupId:artifactId`` (as OSV names Maven packages); their location is
the archive, and for a nested one the chain of members (``/app/app.war!/WEB-INF/lib/x.jar``).

Archives are hostile input, so everything is bounded: the archive read into memory
(:data:`MAX_ARCHIVE_BYTES`), the central directory (:data:`MAX_ENTRIES` entries), each
metadata file read (:data:`MAX_METADATA_BYTES`, read with a limit so a member whose header
lies about its size stops there), nesting depth (:data:`MAX_DEPTH`), nested archives
(:data:`MAX_NESTED` in all) and the bytes decompressed for them together
(:data:`MAX_NESTED_TOTAL_BYTES`, which a zip bomb hits). Member names that climb out of the
archive (``../``, absolute) are refused. What cannot be read is reported as not read, with
the member it concerns.
"""

from __future__ import annotations

import io
import json
import logging
import posixpath
import re
import struct
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import maven_package
from shipflow.sbom.model import Distro, Location
from shipflow.sbom.source import FileSource, Readable

if TYPE_CHECKING:
    import zipfile

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".kar")
MAX_ARCHIVE_BYTES = 256 * 1024**2
MAX_ENTRIES = 100_000
MAX_METADATA_BYTES = 1024**2
MAX_DEPTH = 4
MAX_NESTED = 5_000
MAX_NESTED_TOTAL_BYTES = 1024**3
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_FILE_NAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^-]*(?:-[^-]+)*?)$")


@cache
def _zip_errors() -> tuple[type[Exception], ...]:
    """What reading an archive may raise. zipfile is imported with the first archive: most
    images have none, and every image catalog imports this module."""
    import zipfile

    return (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        EOFError,
        zlib.error,
        ValueError,
        OSError,
        struct.error,
    )


class ArchiveError(Exception):
    """An archive (or one member of it) that cannot be read safely."""


@dataclass
class _Budget:
    nested: int = 0
    nested_bytes: int = 0


@dataclass
class ArchiveReport:
    packages: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


def is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _entry_count(data: bytes) -> int:
    """Entries the central directory declares, read from the end-of-central-directory
    record before ``zipfile`` builds an object for each."""
    tail_start = max(0, len(data) - 22 - 65_535)
    at = data.rfind(_EOCD, tail_start)
    if at < 0:
        raise ArchiveError("no zip end-of-central-directory record")
    (count,) = struct.unpack_from("<H", data, at + 10)
    if count == 0xFFFF and at >= 20 and data[at - 20 : at - 16] == _EOCD64_LOCATOR:
        (eocd64,) = struct.unpack_from("<Q", data, at - 12)
        if eocd64 + 40 > len(data):
            raise ArchiveError("zip64 end record outside the archive")
        (count,) = struct.unpack_from("<Q", data, eocd64 + 32)
    return int(count)


def _safe_member(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and ".." not in parts and "\\" not in name and ":" not in parts[0]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ArchiveError(f"{info.file_size} bytes, over the {limit}-byte cap")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ArchiveError(f"expands past the {limit}-byte cap (its header says {info.file_size})")
    return data


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest (``Name: value``, 72-byte lines continued with a
    leading space)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and last is not None:
            fields[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            fields[last] = value.strip()
    return fields


def parse_properties(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _licences(manifest: dict[str, str]) -> list[str]:
    licence = manifest.get("Bundle-License", "").split(";", 1)[0].strip()
    return [licence] if licence and "://" not in licence and len(licence) < 80 else []


def _from_manifest(manifest: dict[str, str], member: str) -> dict[str, Any] | None:
    stem = posixpath.basename(member).rsplit(".", 1)[0]
    match = _FILE_NAME_VERSION.match(stem)
    artifact = match["name"] if match else stem
    version = (
        manifest.get("Implementation-Version")
        or manifest.get("Bundle-Version")
        or manifest.get("Specification-Version")
        or (match["version"] if match else "")
    ).strip()
    if not artifact or not version:
        return None
    group = manifest.get("Implementation-Vendor-Id", "").strip()
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";", 1)[0].strip()
    if not group and symbolic.endswith("." + artifact):
        group = symbolic[: -len(artifact) - 1]
    return {"g": group, "a": artifact, "v": version, "lic": _licences(manifest)}


class _ArchiveReader:
    def __init__(self, report: ArchiveReport) -> None:
        self.report = report
        self.budget = _Budget()

    def error(self, at: str, reason: str) -> None:
        self.report.errors.append({"at": at, "reason": reason})

    def read(self, data: bytes, name: str, at: str, depth: int) -> None:
        """Catalog one archive's bytes; ``at`` is its member chain ("" for the outermost)."""
        try:
            count = _entry_count(data)
            if count > MAX_ENTRIES:
                raise ArchiveError(f"{count} entries (over {MAX_ENTRIES})")
            import zipfile

            archive = zipfile.ZipFile(io.BytesIO(data))
        except ArchiveError as exc:
            self.error(at, f"not read: {exc}")
            return
        except _zip_errors() as exc:
            self.error(at, f"not a readable zip archive: {exc}")
            return
        with archive:
            self._members(archive, name, at, depth)

    def _members(self, archive: zipfile.ZipFile, name: str, at: str, depth: int) -> None:
        found: list[dict[str, Any]] = []
        manifest: dict[str, str] = {}
        nested: list[zipfile.ZipInfo] = []
        for info in archive.infolist():
            member = info.filename
            if info.is_dir():
                continue
            if not _safe_member(member):
                self.error(at, f"member {member[:200]!r} escapes the archive; skipped")
                continue
            try:
                if _POM_PROPERTIES.match(member):
                    props = parse_properties(
                        _read_member(archive, info, MAX_METADATA_BYTES).decode("utf-8", "replace")
                    )
                    if props.get("groupId") and props.get("artifactId") and props.get("version"):
                        found.append(
                            {
                                "g": props["groupId"],
                                "a": props["artifactId"],
                                "v": props["version"],
                                "lic": [],
                            }
                        )
                elif member == "META-INF/MANIFEST.MF":
                    manifest = parse_manifest(
                        _read_member(archive, info, MAX_METADATA_BYTES).decode("utf-8", "replace")
                    )
                elif is_archive_name(member):
                    nested.append(info)
            except ArchiveError as exc:
                self.error(_chain(at, member), f"not read: {exc}")
            except _zip_errors() as exc:
                self.error(_chain(at, member), f"not readable: {exc}")
        if not found and manifest:
            derived = _from_manifest(manifest, name)
            if derived is not None:
                found.append(derived)
        for package in found:
            if not package["lic"] and manifest:
                package["lic"] = _licences(manifest)
            self.report.packages.append({**package, "at": at})
        for info in nested:
            self._nested(archive, info, at, depth)

    def _nested(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, at: str, depth: int) -> None:
        where = _chain(at, info.filename)
        if depth >= MAX_DEPTH:
            self.error(where, f"archive nested deeper than {MAX_DEPTH} levels; not read")
            return
        self.budget.nested += 1
        if self.budget.nested > MAX_NESTED:
            if self.budget.nested == MAX_NESTED + 1:
                self.error(at, f"more than {MAX_NESTED} nested archives; the rest were not read")
            return
        left = MAX_NESTED_TOTAL_BYTES - self.budget.nested_bytes
        try:
            data = _read_member(archive, info, min(MAX_ARCHIVE_BYTES, left))
        except ArchiveError as exc:
            self.error(where, f"not read: {exc}")
            return
        except _zip_errors() as exc:
            self.error(where, f"not readable: {exc}")
            return
        self.budget.nested_bytes += len(data)
        self.read(data, info.filename, where, depth + 1)


def _chain(at: str, member: str) -> str:
    return f"{at}!/{member}" if at else member


def read_archive(data: bytes, name: str) -> ArchiveReport:
    report = ArchiveReport()
    _ArchiveReader(report).read(data, name, "", 0)
    return report


class JavaArchiveCataloger:
    """A :class:`~shipflow.sbom.source.Reducer`: each archive becomes a small JSON list of
    the packages found in it and the members that could not be read."""

    name = "java-archive"
    wanted_names = frozenset[str]()  # wants nothing whole: read through reduce()

    def __init__(self, *, max_bytes: int | None = None) -> None:
        self.max_bytes = MAX_ARCHIVE_BYTES if max_bytes is None else max_bytes

    def wants(self, path: str) -> bool:
        return False  # read through reduce(), never whole

    def accepts(self, path: str, mode: int, size: int) -> bool:
        return is_archive_name(path)

    def reduce(self, path: str, stream: Readable, size: int) -> bytes | None:
        if size > self.max_bytes:
            report = ArchiveReport(
                errors=[{"at": "", "reason": f"{size} bytes, over the {self.max_bytes}-byte cap"}]
            )
        else:
            report = read_archive(stream.read(size), posixpath.basename(path))
        document = {"packages": report.packages, "errors": report.errors}
        return json.dumps(document, separators=(",", ":")).encode()

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find_reduced(self.name):
            document = json.loads(found.data)
            for error in document["errors"]:
                where = _located(found.location, error["at"])
                result.skip(where, self.name, error["reason"])
            for package in document["packages"]:
                location = _located(found.location, package["at"])
                result.packages.append(
                    maven_package(package["g"], package["a"], package["v"], location, tuple(package["lic"]))
                )
        return result


def _located(location: Location, at: str) -> Location:
    return Location(f"{location.path}!/{at}", location.layer) if at else location
