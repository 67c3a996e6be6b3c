"""Licence strings that are common SPDX ids (or several joined by one operator) are answered
without license-expression (building its SPDX index costs 0.1-0.2 s a process); the answer
must be the library's own, and everything else still goes to the library."""

from __future__ import annotations

import itertools
import random

import pytest
from license_expression import get_spdx_licensing

from shipflow.sbom import _licenses as licenses
from shipflow.sbom._licenses import COMMON_SPDX_IDS, resolve, spdx_expression


def library(text: str) -> str | None:
    info = get_spdx_licensing().validate(text.strip())
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


@pytest.mark.parametrize("identifier", sorted(COMMON_SPDX_IDS))
def test_every_common_id_is_its_own_normalised_expression(identifier: str) -> None:
    assert library(identifier) == identifier
    assert licenses._common_expression(identifier) == identifier


def test_common_ids_joined_by_one_operator_are_the_librarys_expression() -> None:
    # The library takes ~0.1 s for each compound expression here: a sample, not every pair.
    rng = random.Random(7)
    ids = sorted(COMMON_SPDX_IDS)
    combos = [("MIT", "Apache-2.0"), ("Apache-2.0", "MIT"), ("BSD-3-Clause", "GPL-2.0-or-later", "curl")]
    combos += [tuple(rng.sample(ids, rng.choice((2, 3)))) for _ in range(8)]
    for members, operator in itertools.product(combos, (" OR ", " AND ")):
        text = operator.join(members)
        assert licenses._common_expression(text) == text
        assert library(text) == text, text


@pytest.mark.parametrize(
    "text",
    [
        "mit",  # case: the library normalises it
        "GPL-2.0",  # deprecated id: the library maps it to GPL-2.0-only
        "GPL-2.0+",
        "LGPL-2.1",
        "MIT OR MIT",  # repeated members
        "MIT or Apache-2.0",  # lower-case operator
        "MIT OR Apache-2.0 AND ISC",  # mixed operators
        "(MIT OR Apache-2.0)",
        "Apache-2.0 WITH LLVM-exception",
        "Apache 2.0",
        "GPL-2+",
        "public-domain",
        " MIT ",
    ],
)
def test_other_strings_get_the_librarys_answer(text: str) -> None:
    if text.strip() not in COMMON_SPDX_IDS:
        assert licenses._common_expression(text.strip()) is None
    spdx_expression.cache_clear()
    assert spdx_expression(text) == library(text)


def test_resolve_is_unchanged_for_common_and_free_text_licences() -> None:
    assert resolve(("MIT",)).expression == "MIT"
    assert resolve(("MIT", "Apache-2.0 OR ISC")).expression == "MIT AND (Apache-2.0 OR ISC)"
    mixed = resolve(("MIT", "Artistic or GPL-1+"))
    assert mixed.expression is not None and mixed.expression.startswith("MIT AND LicenseRef-")
    assert mixed.spdx_ids == ("MIT",)
