"""``build_image`` with the real buildah: build once, reuse, reproducibility, labels, bases.

Every build here runs buildah for real (vfs storage, --isolation chroot) in a private storage
root, and the image lands in a real store: an OCI layout, or the CNCF registry fixture.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from fixtures.example import ExampleRepo, prepare_example
from fixtures.registry import Registry
from shipflow.build import (
    FINGERPRINT_LABEL,
    OCI_CREATED,
    OCI_REVISION,
    OCI_SOURCE,
    OCI_VERSION,
    BuildFailed,
    BuildSettings,
    build_image,
    fingerprint_tag,
    provenance_predicate,
    read_labels,
)
from shipflow.build._context import digest_context, load_ignore_file
from shipflow.errors import EXIT_CHECK_FAILED
from shipflow.events import RecordingSink
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.open import open_store

pytestmark = pytest.mark.slow


def settings(context: Path, image: str, **changes: object) -> BuildSettings:
    values: dict[str, object] = {"context": context, "image": image, "build_args": {"VERSION": "1.2.3"}}
    values.update(changes)
    return BuildSettings(**values)  # type: ignore[arg-type]


def test_build_once_then_reuse(example_repo: ExampleRepo, tmp_path: Path) -> None:
    store_ref = f"oci:{tmp_path / 'store'}"
    first_events = RecordingSink()
    first = build_image(settings(example_repo.path, store_ref, tags=("1.2.3",)), events=first_events)
    assert not first.reused and first.builder == "buildah"
    assert "build.started" in first_events.kinds()
    steps = [e.message for e in first_events.events if e.kind == "build.step"]
    assert steps[0] == "STEP 1/20: FROM scratch" and any("RUN" in step for step in steps)  # live progress

    store = LayoutStore(tmp_path / "store")
    assert store.resolve("1.2.3").digest == first.digest
    assert store.resolve(fingerprint_tag(first.fingerprint)).digest == first.digest
    labels = read_labels(store, first.digest)
    assert labels[OCI_REVISION] == example_repo.revision
    assert labels[OCI_VERSION] == "1.2.3"  # from the tag v1.2.3 at HEAD
    assert labels[OCI_SOURCE] == "https://github.com/immoflowme/app"
    assert labels[OCI_CREATED] == "2026-01-15T09:00:00Z"  # the commit time, not now
    assert labels[FINGERPRINT_LABEL] == first.fingerprint

    again_events = RecordingSink()
    again = build_image(settings(example_repo.path, store_ref, tags=("latest",)), events=again_events)
    assert again.reused and again.digest == first.digest
    assert "build.started" not in again_events.kinds()  # nothing was built
    assert "build.reused" in again_events.kinds()
    assert store.resolve("latest").digest == first.digest  # a requested tag is still applied
    with pytest.raises(Exception, match="reused"):
        provenance_predicate(again)


def test_same_inputs_give_the_same_digest_anywhere(
    example_repo: ExampleRepo, tmp_path: Path, registry: Registry, repo_name: str
) -> None:
    """Two independent buildah runs (each its own storage), one into a layout, one into the
    registry: byte-identical images. And --rebuild of the same inputs reproduces it."""
    in_layout = build_image(settings(example_repo.path, f"oci:{tmp_path / 'a'}"))
    in_registry = build_image(settings(example_repo.path, registry.ref(repo_name)))
    assert not in_registry.reused
    assert in_registry.digest == in_layout.digest
    assert open_store(registry.ref(repo_name)).resolve(fingerprint_tag(in_layout.fingerprint)).digest == (
        in_layout.digest
    )
    events = RecordingSink()
    rebuilt = build_image(settings(example_repo.path, f"oci:{tmp_path / 'a'}", rebuild=True), events=events)
    assert not rebuilt.reused and rebuilt.previous_digest == in_layout.digest
    assert rebuilt.digest == in_layout.digest
    assert "build.rebuilt" not in events.kinds()  # only said when the digest differs


def test_changed_source_builds_again_ignored_files_do_not(tmp_path: Path) -> None:
    repo = prepare_example(tmp_path / "repo")
    store_ref = f"oci:{tmp_path / 'store'}"
    first = build_image(settings(repo.path, store_ref))

    (repo.path / "NOTES.md").write_text("not in the build context (.dockerignore)\n")
    untouched = build_image(settings(repo.path, store_ref))
    assert untouched.reused and untouched.digest == first.digest
    assert untouched.source.dirty  # git sees the new file; the context digest does not

    other_args = build_image(
        settings(repo.path, store_ref, build_args={"VERSION": "1.2.3", "HEALTH_MODE": "degraded"})
    )
    assert not other_args.reused and other_args.digest != first.digest

    handler = repo.path / "app" / "handler.sh"
    handler.write_text(handler.read_text().replace("no such route", "nothing here"))
    subprocess.run(["git", "-C", str(repo.path), "commit", "-qam", "change the 404 text"], check=True)
    changed = build_image(settings(repo.path, store_ref))
    assert not changed.reused
    assert changed.source.revision != repo.revision
    assert changed.digest not in (first.digest, other_args.digest)


def test_from_a_local_image_records_its_digest(example_repo: ExampleRepo, tmp_path: Path) -> None:
    base = build_image(settings(example_repo.path, f"oci:{tmp_path / 'base'}", tags=("base",)))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM oci:{tmp_path / 'base'}:base\nRUN echo derived > /tmp/derived\n")
    derived = build_image(settings(ctx, f"oci:{tmp_path / 'derived'}", revision="b" * 40, build_args={}))
    assert [(b.ref, b.digest) for b in derived.base_images] == [
        (f"oci:{tmp_path / 'base'}:base", base.digest)
    ]
    deps = provenance_predicate(derived)["buildDefinition"]["resolvedDependencies"]
    assert deps[-1]["digest"] == {"sha256": base.digest.hex}
    assert derived.source_date_epoch == 0  # no git and no SOURCE_DATE_EPOCH: the epoch, reproducibly

    scratch = provenance_predicate(base)["buildDefinition"]["resolvedDependencies"]
    assert [d.get("annotations", {}).get("role") for d in scratch].count("base-image") == 0


def test_a_failing_build_is_a_check_failure_and_tags_nothing(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY missing-file /x\n")
    with pytest.raises(BuildFailed) as caught:
        build_image(settings(ctx, f"oci:{tmp_path / 'store'}", revision="c" * 40, build_args={}, tags=("x",)))
    assert caught.value.exit_code == EXIT_CHECK_FAILED
    assert "missing-file" in str(caught.value)
    assert LayoutStore(tmp_path / "store").list_tags() == []


def test_a_tag_that_lies_is_refused_unless_rebuild(example_repo: ExampleRepo, tmp_path: Path) -> None:
    store_ref = f"oci:{tmp_path / 'store'}"
    built = build_image(settings(example_repo.path, store_ref))
    other = build_image(settings(example_repo.path, store_ref, build_args={"VERSION": "9.9.9"}))
    store = LayoutStore(tmp_path / "store")
    store.tag(other.digest, fingerprint_tag(built.fingerprint))  # someone moved the tag
    with pytest.raises(BuildFailed, match="fingerprint label"):
        build_image(settings(example_repo.path, store_ref))
    fixed = build_image(settings(example_repo.path, store_ref, rebuild=True))
    assert fixed.digest == built.digest
    assert store.resolve(fingerprint_tag(built.fingerprint)).digest == built.digest


def test_ignore_rules_match_what_buildah_copies(tmp_path: Path) -> None:
    """The context digest's .dockerignore matcher against buildah's own: COPY . and compare."""
    ctx = tmp_path / "ctx"
    files = [
        "README.md",
        "docs/guide.md",
        "docs/deep/more.md",
        "src/app.py",
        "src/app.pyc",
        "src/cache/x.bin",
        "node_modules/a/index.js",
        "node_modules/keep.js",
        "build/out.o",
        "logs/a.log",
        "logs/important.log",
        "file1.txt",
        "file10.txt",
        "data/x/y/z.csv",
    ]
    for rel in files:
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(rel)
    (ctx / ".dockerignore").write_text(
        "# comment\n*.md\n**/*.pyc\nsrc/cache\nnode_modules\n!node_modules/keep.js\n/build/\n"
        "logs/*.log\n!logs/important.log\nfile?.txt\ndata/**/*.csv\n"
    )
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /ctx/\n")
    built = build_image(settings(ctx, f"oci:{tmp_path / 'store'}", revision="d" * 40, build_args={}))

    store = LayoutStore(tmp_path / "store")
    manifest = json.loads(store.get_manifest(str(built.digest)).data)
    copied: set[str] = set()
    for layer in manifest["layers"]:
        with store.open_blob(Digest.parse(layer["digest"])) as chunks:
            blob = b"".join(chunks)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            copied |= {m.name.removeprefix("./").removeprefix("ctx/") for m in tar.getmembers() if m.isfile()}
    matcher, _ = load_ignore_file(ctx)
    expected = {rel for rel in [*files, ".dockerignore", "Dockerfile"] if not matcher.excluded(rel)}
    assert copied == expected
    # the cases where gitignore-style rules would differ: "*.md" is for the root only
    assert "README.md" not in copied and "docs/guide.md" in copied
    assert "node_modules/keep.js" in copied and "node_modules/a/index.js" not in copied
    assert "file10.txt" in copied and "file1.txt" not in copied
    assert digest_context(ctx).files >= len(expected)
