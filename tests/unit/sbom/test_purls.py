"""shipflow builds purl strings itself (sbom/_purls.py: packageurl-python cost 134 µs a purl);
they must be exactly what packageurl-python writes for the same components: on real package
records (this machine's dpkg status, the lock files of tests/data) and on generated hostile
names. tests/interop/test_purls_vs_packageurl.py does the same on the image corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipflow.sbom import _purls as purls
from shipflow.sbom.catalog import catalog_directory
from shipflow.sbom.catalogers.dpkg import DpkgCataloger
from shipflow.sbom.model import Distro
from shipflow.sbom.source import DirectorySource
from support.purls import assert_same_as_library, library_purl, recorded

DATA = Path(__file__).resolve().parents[2] / "data"
HOST_STATUS = Path("/var/lib/dpkg/status")
TYPES = ("deb", "apk", "rpm", "npm", "pypi", "golang", "cargo", "composer", "gem", "maven")


def test_host_dpkg_status_purls_are_the_libraries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not HOST_STATUS.is_file():
        pytest.fail(f"{HOST_STATUS} is missing: these tests run on Debian (see FACTS.md)")
    root = tmp_path / "root"
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_bytes(HOST_STATUS.read_bytes())
    cataloger = DpkgCataloger()
    with recorded(monkeypatch) as calls:
        found = cataloger.catalog(DirectorySource(root, cataloger.wants), Distro("debian", "12"))
    assert len(found.packages) > 100
    assert len(calls) == len(found.packages)
    assert_same_as_library(calls)


def test_purls_of_the_test_data_are_the_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every lock file, Java archive and package record under tests/data, cataloged as a
    directory (npm, PyPI, Go, Cargo, Composer, gems, Maven)."""
    with recorded(monkeypatch) as calls:
        inventory = catalog_directory(DATA)
    assert {"npm", "pypi", "golang", "cargo", "composer", "gem", "maven"} <= {
        p.type for p in inventory.packages
    }
    assert_same_as_library(calls)


_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 /:@%?#&=+_.-~\t\né ÉİßΣ\x00\x1b\u202e\u00a0😀")), max_size=12
)


@settings(max_examples=500, deadline=None, database=None)
@given(
    purl_type=st.sampled_from(TYPES),
    namespace=st.none() | _TEXT,
    name=_TEXT,
    version=st.none() | _TEXT,
    qualifiers=st.dictionaries(st.sampled_from(["arch", "distro", "epoch", "upstream", "platform"]), _TEXT),
)
def test_generated_components_give_the_libraries_string_or_both_refuse(
    purl_type: str, namespace: str | None, name: str, version: str | None, qualifiers: dict[str, str]
) -> None:
    try:
        expected: str | None = library_purl(purl_type, namespace, name, version, qualifiers)
    except (ValueError, TypeError):  # packageurl-python fails a name that normalises to nothing
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            purls.purl(purl_type, namespace, name, version, qualifiers)
    else:
        assert purls.purl(purl_type, namespace, name, version, qualifiers) == expected


def test_the_constructors_keep_their_conventions() -> None:
    debian = Distro("debian", "12")
    assert (
        purls.os_package_purl(
            "deb",
            namespace="debian",
            name="libc6",
            version="2.36-9+deb12u4",
            arch="amd64",
            distro=debian,
            source_name="glibc",
        )
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert purls.npm_purl("@Babel/Core", "7.0.0") == "pkg:npm/%40Babel/core@7.0.0"
    assert purls.pypi_purl("Zope.Interface", "6.0") == "pkg:pypi/zope-interface@6.0"
    assert purls.golang_purl("github.com/google/uuid", "v1.6.0") == "pkg:golang/github.com/google/uuid@v1.6.0"
    assert (
        purls.gem_purl("nokogiri", "1.16.0", "x86_64-linux")
        == "pkg:gem/nokogiri@1.16.0?platform=x86_64-linux"
    )
    with pytest.raises(ValueError):
        purls.npm_purl("@scope/", "1.0.0")
