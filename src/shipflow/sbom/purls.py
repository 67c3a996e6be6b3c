"""Package URLs (purl spec) for what shipflow catalogs, built with packageurl-python.

OS packages carry the conventions syft and grype use, so SBOMs round-trip between tools:
``pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12&upstream=glibc``.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from shipflow.sbom.model import Distro

_PYPI_SEPARATORS = re.compile(r"[-_.]+")


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
    return str(
        PackageURL(type=purl_type, namespace=namespace, name=name, version=version, qualifiers=qualifiers)
    )


def npm_purl(name: str, version: str) -> str:
    namespace, _, bare = name.rpartition("/")
    return str(PackageURL(type="npm", namespace=namespace or None, name=bare, version=version))


def pypi_purl(name: str, version: str) -> str:
    return str(PackageURL(type="pypi", name=normalise_pypi_name(name), version=version))


def golang_purl(module: str, version: str) -> str:
    """``pkg:golang/github.com/google/uuid@v1.6.0``: the module path's last element is the
    name, the rest the namespace (``stdlib`` has none)."""
    namespace, _, name = module.rpartition("/")
    return str(PackageURL(type="golang", namespace=namespace or None, name=name, version=version))


def cargo_purl(name: str, version: str) -> str:
    return str(PackageURL(type="cargo", name=name, version=version))


def composer_purl(name: str, version: str) -> str:
    """``vendor/package`` -> ``pkg:composer/vendor/package@version``."""
    namespace, _, bare = name.rpartition("/")
    return str(PackageURL(type="composer", namespace=namespace or None, name=bare, version=version))


def gem_purl(name: str, version: str, platform: str | None = None) -> str:
    qualifiers = {"platform": platform} if platform and platform != "ruby" else {}
    return str(PackageURL(type="gem", name=name, version=version, qualifiers=qualifiers))


def maven_purl(group: str, artifact: str, version: str) -> str:
    return str(PackageURL(type="maven", namespace=group or None, name=artifact, version=version))
