"""Fuzz ``shipflow.yaml`` (``release.config.load_config`` over ``release.yamlconf``): whatever
the file holds, the result is a validated config or one ConfigError with file, line and key
path; never a traceback, never a hang, bounded memory.

Found by this test and fixed on main (``src/shipflow/release/``, commit "shipflow.yaml: nesting
deeper than the YAML composer's stack is a config error…"), pinned by the two tests below:

* ``image: [[[[…`` 2 000 deep (4 KB) ended in a RecursionError traceback (``yamlconf``
  composes with PyYAML's pure-Python loader and checked depth only afterwards);
* a key path longer than the file system allows escaped as ``OSError: File name too long``
  from ``config._file``.

Nesting is drawn no deeper than 2 000 here. Deep flow nesting also made examples slow (PyYAML's
scanner is quadratic in it: the default run took 2 to 114 s depending on the draws); ``yamlconf``
now walks the parser's events lazily and stops at the first level past its limit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given

from reliability.fuzzing import check, mutated
from shipflow.release.config import load_config
from shipflow.signing.keys import generate_private_key
from support.pipeline import BASE_CONFIG

PUBLIC_PEM = generate_private_key().verifier.pem
SEEDS = [
    BASE_CONFIG.format(image="oci:./store", staging_gates="[]", canary_gates="[]", gates="").encode(),
    b"image: oci:./store\nkeys: {trusted: [keys/cosign.pub]}\nroles: {ci: [bot]}\n"
    b"environments:\n  dev: {promoted_by: [ci]}\n  staging: {from: dev, promoted_by: [ci], approvals: 1}\n",
]


def _load(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "keys").mkdir()
        for name in ("cosign.pub", "lead.pub", "lead-1.pub"):
            (root / "keys" / name).write_bytes(PUBLIC_PEM)
        path = root / "shipflow.yaml"
        path.write_bytes(data)
        load_config(path)


@given(mutated(SEEDS, nest_depths=(3, 130, 2_000)))
def test_fuzz_shipflow_yaml(data: bytes) -> None:
    check("shipflow.yaml (load_config)", _load, data, size=len(data))


def test_deep_shipflow_yaml_is_a_config_error() -> None:
    from shipflow.errors import ConfigError

    with pytest.raises(ConfigError):
        _load(b"image: " + b"[" * 2000)


def test_an_over_long_key_path_is_a_config_error() -> None:
    from shipflow.errors import ConfigError

    with pytest.raises(ConfigError):
        _load(b"image: oci:./store\nkeys: {trusted: [keys/" + b"x" * 5000 + b".pub]}\n")
