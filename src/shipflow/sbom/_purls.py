"""Package URLs (purl spec) for what shipflow catalogs.

OS packages carry the conventions syft and grype use, so SBOMs round-trip between tools:
``pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12&upstream=glibc``.

The strings are built here rather than with ``packageurl.PackageURL``: building one through the
library took 134 µs (measured with cProfile on the 783 packages of a Debian image: 0.105 s of a
0.4 s catalog, benchmarks/RESULTS.md), because it normalises every component twice and
validates the qualifiers on each call. :func:`purl` applies the same rules as
packageurl-python 0.17 for the types shipflow writes (component normalisation, percent-encoding
of everything but ``A-Za-z0-9_.-~`` and ``/`` ``:``, lower-cased names where the type says so,
sorted qualifiers without empty values), and ``tests/unit/sbom/test_purls.py`` checks that the
two agree, string for string, on the image corpus and on generated hostile names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from shipflow.sbom.model import Distro

_PYPI_SEPARATORS = re.compile(r"[-_.]+")
# What percent-encoding leaves unchanged (RFC 3986 unreserved, plus "/" and ":", which
# packageurl-python keeps): most components are only that, and are used as they are.
_PLAIN = re.compile(r"[A-Za-z0-9_.~/:-]*")
# Types whose namespace / name are case-insensitive (lower-cased), among those shipflow writes;
# packageurl-python's lists, restricted to them.
_LOWER_NAMESPACE = frozenset({"pypi", "composer", "apk"})
_LOWER_NAME = frozenset({"pypi", "composer", "npm", "apk"})


def _quote(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote(text, safe="/:")


def _namespace(purl_type: str, namespace: str, quoted: bool) -> str:
    namespace = namespace.strip().strip("/")
    if purl_type in _LOWER_NAMESPACE:
        namespace = namespace.lower()
    segments = [segment for segment in namespace.split("/") if segment.strip()]
    return "/".join(map(_quote, segments) if quoted else segments)


def _name(purl_type: str, name: str, quoted: bool) -> str:
    name = (_quote(name) if quoted else name).strip().strip("/")
    if purl_type in _LOWER_NAME:
        name = name.lower()
        if purl_type == "pypi":
            name = name.replace("_", "-")
    return name


def purl(
    purl_type: str,
    namespace: str | None,
    name: str,
    version: str | None = None,
    qualifiers: Mapping[str, str] | None = None,
) -> str:
    """``pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS``, normalised and encoded as packageurl-python
    writes it. Raises ValueError for a name that is empty once normalised.

    Like the library, the components are normalised once as given and once more, encoded, as
    the string is written (the second pass differs from the first for names with non-ASCII
    letters, whose escapes a case-insensitive type lower-cases, and for namespaces such as
    ``"/ x"``)."""
    if not name:
        raise ValueError("Invalid purl: name is a required argument.")
    parts = ["pkg:", purl_type, "/"]
    if namespace:
        namespace = _namespace(purl_type, _namespace(purl_type, namespace, False), True)
        if namespace:
            parts += (namespace, "/")
    bare = _name(purl_type, name, False)
    if not bare:
        raise ValueError(f"Invalid purl: name {name!r} is empty once normalised")
    parts.append(_name(purl_type, bare, True))
    if version:
        version = version.strip()
        if version:
            parts += ("@", _quote(version))
    if qualifiers:
        kept = {k.strip().lower(): v for k, v in qualifiers.items() if k.strip() and v.strip()}
        if kept:
            parts += ("?", "&".join(f"{key}={_quote(kept[key])}" for key in sorted(kept)))
    return "".join(parts)


def normalise_pypi_name(name: str) -> str:
    """PEP 503 normalised project name (``Jinja2`` -> ``jinja2``, ``zope.interface`` ->
    ``zope-interface``)."""
    return _PYPI_SEPARATORS.sub("-", name).lower()


def distro_qualifier(distro: Distro | None) -> str | None:
    return f"{distro.id}-{distro.version_id}" if distro else None


def os_package_purl(
    purl_type: str,
    *,
    namespace: str | None,
    name: str,
    version: str,
    arch: str | None,
    distro: Distro | None,
    source_name: str | None = None,
    source_version: str | None = None,
    epoch: int | None = None,
) -> str:
    """An OS package's purl; for rpm the version is ``version-release`` and a non-zero epoch
    is the ``epoch`` qualifier (purl-spec's rpm type)."""
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if epoch:
        qualifiers["epoch"] = str(epoch)
    qualifier = distro_qualifier(distro)
    if qualifier:
        qualifiers["distro"] = qualifier
    if source_name and source_name != name:
        same_version = not source_version or source_version == version
        qualifiers["upstream"] = source_name if same_version else f"{source_name}@{source_version}"
    elif source_version and source_version != version:
        qualifiers["upstream"] = f"{name}@{source_version}"
    return purl(purl_type, namespace, name, version, qualifiers)


def npm_purl(name: str, version: str) -> str:
    namespace, _, bare = name.rpartition("/")
    return purl("npm", namespace or None, bare, version)


def pypi_purl(name: str, version: str) -> str:
    return purl("pypi", None, normalise_pypi_name(name), version)


def golang_purl(module: str, version: str) -> str:
    """``pkg:golang/github.com/google/uuid@v1.6.0``: the module path's last element is the
    name, the rest the namespace (``stdlib`` has none)."""
    namespace, _, name = module.rpartition("/")
    return purl("golang", namespace or None, name, version)


def cargo_purl(name: str, version: str) -> str:
    return purl("cargo", None, name, version)


def composer_purl(name: str, version: str) -> str:
    """``vendor/package`` -> ``pkg:composer/vendor/package@version``."""
    namespace, _, bare = name.rpartition("/")
    return purl("composer", namespace or None, bare, version)


def gem_purl(name: str, version: str, platform: str | None = None) -> str:
    qualifiers = {"platform": platform} if platform and platform != "ruby" else {}
    return purl("gem", None, name, version, qualifiers)


def maven_purl(group: str, artifact: str, version: str) -> str:
    return purl("maven", group or None, artifact, version)
