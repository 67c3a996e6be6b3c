"""Two processes writing one OCI layout at once lose no tag (the index.json file lock, proven with
real processes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipflow.oci._referrers import fallback_tag
from shipflow.oci.layout import LayoutStore
from support.layout_images import BuiltImage, build_image, put_image
from support.paths import TESTS_DIR


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "layout", create=True)


@pytest.fixture
def image() -> BuiltImage:
    return build_image({"etc/hello.txt": b"hello from shipflow\n"})


def index_doc(store: LayoutStore) -> dict[str, object]:
    doc = json.loads((store.path / "index.json").read_bytes())
    assert isinstance(doc, dict)
    return doc


# -- concurrency ------------------------------------------------------------------------------

_TAGGER = """
import sys
from pathlib import Path
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
sys.path.insert(0, sys.argv[4])
from support.layout_images import artifact, put_image
from shipflow.oci.models import ManifestBytes
from shipflow.oci.open import open_store

store = LayoutStore(Path(sys.argv[1]))
prefix, count = sys.argv[2], int(sys.argv[3])
subject = store.get_manifest("base")
digest = subject.digest
for i in range(count):
    store.tag(digest, f"{prefix}-{i}")
    if i % 5 == 0:
        referrer = artifact(subject, "application/example", f"{prefix}-{i}".encode())
        put_image(store, referrer, None)
        store.add_referrer(digest, referrer.manifest)
print("done", prefix)
"""


def test_two_processes_tagging_at_once_lose_no_tag(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "base")
    count = 40
    tests_dir = str(TESTS_DIR)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TAGGER, str(store.path), prefix, str(count), tests_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for prefix in ("left", "right")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.startswith(b"done")
    expected = {f"{p}-{i}" for p in ("left", "right") for i in range(count)}
    tags = set(store.list_tags())
    assert expected <= tags
    assert tags - expected == {"base", fallback_tag(image.manifest.digest)}
    # every referrer both processes added is in the fallback index
    payloads = sorted(
        (d.annotations or {})["org.example.payload"] for d in store.referrers(image.manifest.digest)
    )
    assert payloads == sorted(f"{p}-{i}" for p in ("left", "right") for i in range(0, count, 5))
    assert list((store.path / ".shipflow-tmp").iterdir()) == []
