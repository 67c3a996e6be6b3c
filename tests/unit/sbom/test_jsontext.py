"""dumps_indented writes exactly what ``json.dumps(doc, indent=2)`` writes (it exists because
the standard library's indenting encoder is pure Python: 2-3x slower on an SBOM)."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipflow.sbom import Distro, Inventory, Location, Package, SbomFormat, render
from shipflow.sbom.cyclonedx import cyclonedx_json
from shipflow.sbom.jsontext import dumps_indented
from shipflow.sbom.spdx import render_spdx

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(["", "\x00\x1f\x7f", '"\\/', "\u2028\u2029", "é😀", "\ud800"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, database=None)
@given(VALUES, st.booleans())
def test_same_text_as_json_dumps(value: Any, ensure_ascii: bool) -> None:
    try:
        expected = json.dumps(value, indent=2, ensure_ascii=ensure_ascii)
    except UnicodeEncodeError:  # lone surrogates with ensure_ascii=False: both refuse alike
        with pytest.raises(UnicodeEncodeError):
            dumps_indented(value, ensure_ascii=ensure_ascii)
        return
    assert dumps_indented(value, ensure_ascii=ensure_ascii) == expected


class Level(enum.IntEnum):
    HIGH = 3


class Kind(enum.StrEnum):
    DEB = "deb"


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key", None: "none key", 2.5: "float key", False: "bool key"},
        {"level": Level.HIGH, "kind": Kind.DEB},
        [math.nan, -math.inf, 1e300, -0.0],
        {"nested": [[], {}, [[[]]], {"a": {}}]},
    ],
)
def test_values_it_leaves_to_json_dumps_come_out_the_same(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2)


def test_a_cycle_is_refused_as_json_dumps_refuses_it() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        dumps_indented(cycle)


def _inventory() -> Inventory:
    layer = "sha256:" + "cd" * 32
    packages = [
        Package(
            name=f"lib{i}",
            version=f"1.{i}-1+deb12u1",
            type="deb",
            purl=f"pkg:deb/debian/lib{i}@1.{i}-1%2Bdeb12u1?distro=debian-12",
            licenses=("MIT", "Artistic or GPL-1+") if i % 3 else (),
            locations=(Location("/var/lib/dpkg/status", layer),),
            distro=Distro("debian", "12"),
        )
        for i in range(40)
    ]
    return Inventory(subject="oci:./x@sha256:" + "ab" * 32, distro=Distro("debian", "12"), packages=packages)


def test_sbom_documents_are_written_as_json_dumps_writes_them() -> None:
    inventory = _inventory()
    document = render_spdx(inventory)
    assert dumps_indented(document, ensure_ascii=False) == json.dumps(document, indent=2, ensure_ascii=False)
    spdx_text = render(inventory, SbomFormat.SPDX_JSON)
    assert json.loads(spdx_text)["packages"][1]["name"] == "lib0"
    assert spdx_text.startswith('{\n  "spdxVersion": ') and spdx_text.endswith("\n}\n")
    cyclonedx_text = cyclonedx_json(inventory)
    assert cyclonedx_text == json.dumps(json.loads(cyclonedx_text), indent=2, ensure_ascii=False) + "\n"
