"""The image corpus the peer comparisons run on (tests/interop/, benchmarks/peers.py).

One :class:`CorpusImage` per image, each a real image built by buildah from real package
databases and real installs. To put a new image in front of Syft, Grype and Trivy, add one line
to :data:`CORPUS` (and, if the peers disagree with shipflow on it, the explained differences in
``tests/interop/test_inventory_vs_syft.py`` / ``test_findings_vs_peers.py``).

Builders take the session's :class:`fixtures.images.ImageBuilder` and a scratch directory; they
must be deterministic (the builder caches by content).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fixtures.images import BuiltImage, ContextFile, ImageBuilder, busybox_context
from support.catalog_inputs import go_build, java_archives, rpm_database
from support.sbom import npm_install, pip_install_target, tree_files

HOST_STATUS = Path("/var/lib/dpkg/status")
HOST_OS_RELEASE = Path("/usr/lib/os-release")
HOST_DEBIAN_VERSION = Path("/etc/debian_version")
DATA = Path(__file__).resolve().parents[1] / "data"

DEBIAN_APP_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm -rf /opt/app/node_modules/@babel \
&& /bin/busybox ln -s ../usr/lib/os-release /etc/os-release"]
"""

ALPINE_DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
"""

ROCKY_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
"""
ROCKY_OS_RELEASE = (
    b'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
    b'VERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'
)


@dataclass(frozen=True)
class CorpusImage:
    """One image of the corpus: ``build(builder, workdir)`` gives its OCI layout."""

    name: str
    description: str
    build: Callable[[ImageBuilder, Path], BuiltImage]


@contextlib.contextmanager
def _one_layer_per_step() -> Iterator[None]:
    # buildah squashes a build into one layer unless asked not to; the builder passes our
    # environment on to it.
    previous = os.environ.get("BUILDAH_LAYERS")
    os.environ["BUILDAH_LAYERS"] = "true"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["BUILDAH_LAYERS"]
        else:
            os.environ["BUILDAH_LAYERS"] = previous


def build_debian_app(builder: ImageBuilder, workdir: Path) -> BuiltImage:
    """This machine's Debian 12 (its dpkg status: ~740 packages, os-release, debian_version),
    a real npm install (lodash 4.17.15, minimist 1.2.0, mkdirp 0.5.1 nesting minimist 0.0.8,
    @babel/helper-validator-identifier 7.10.4 — deleted again by a later layer, a whiteout),
    a real pip install (urllib3 1.26.4, Jinja2 2.11.2) and Debian's PyJWT egg-info."""
    for needed in (HOST_STATUS, HOST_OS_RELEASE, HOST_DEBIAN_VERSION):
        if not needed.is_file():
            raise RuntimeError(f"the debian-app corpus image needs a Debian machine: {needed} is missing")
    egg_info = sorted(Path("/usr/lib/python3/dist-packages").glob("PyJWT-*.egg-info"))
    if not egg_info:
        raise RuntimeError(
            "the debian-app corpus image needs Debian's python3-jwt (apt-get install python3-jwt)"
        )
    npm_dir = npm_install(workdir / "npm")
    site = pip_install_target(workdir / "site-packages")
    files: dict[str, ContextFile] = dict(busybox_context())
    files["rootfs/var/lib/dpkg/status"] = HOST_STATUS.read_bytes()
    files["rootfs/usr/lib/os-release"] = HOST_OS_RELEASE.read_bytes()
    # Trivy finds Debian by this file, not by os-release.
    files["rootfs/etc/debian_version"] = HOST_DEBIAN_VERSION.read_bytes()
    files.update(tree_files(npm_dir, "rootfs/opt/app"))
    files.update(tree_files(site, "rootfs/opt/app/site-packages"))
    files.update(tree_files(egg_info[0], f"rootfs/usr/lib/python3/dist-packages/{egg_info[0].name}"))
    with _one_layer_per_step():
        return builder.build("corpus-debian-app", DEBIAN_APP_DOCKERFILE, files)


def build_alpine(builder: ImageBuilder, workdir: Path) -> BuiltImage:
    """Alpine 3.19's apk database from Syft's public test data (bash, busybox-binsh from
    origin busybox, musl, readline) with alpine-release and os-release."""
    files: dict[str, ContextFile] = {
        "rootfs/lib/apk/db/installed": (DATA / "sbom" / "apk" / "installed").read_bytes(),
        "rootfs/etc/alpine-release": b"3.19.0\n",
        "rootfs/etc/os-release": (
            b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME="Alpine Linux v3.19"\n'
        ),
    }
    return builder.build("corpus-alpine", ALPINE_DOCKERFILE, files)


def build_rocky_mix(builder: ImageBuilder, workdir: Path) -> BuiltImage:
    """A Rocky Linux 9 style image: an rpmdb.sqlite written by rpm (packages built by rpmbuild
    from tests/data/rpm/specs), a Go executable from go build (tests/data/lockfiles/gomod),
    Java archives made by the JDK's jar (an ear holding a war with library jars, a fat jar), and
    a Node project's pnpm-lock.yaml and yarn.lock (berry) — the catalogers' real inputs
    (support.catalog_inputs)."""
    shutil.rmtree(workdir, ignore_errors=True)  # rpm refuses to install into a used database
    database, _ = rpm_database(workdir / "rpmdb")
    app = go_build(workdir / "bin" / "app")
    archives = java_archives(workdir / "java")
    locks = DATA / "lockfiles"
    files: dict[str, ContextFile] = {
        **busybox_context(),
        "rootfs/etc/os-release": ROCKY_OS_RELEASE,
        "rootfs/etc/rocky-release": b"Rocky Linux release 9.3 (Blue Onyx)\n",
        "rootfs/var/lib/rpm/rpmdb.sqlite": database.read_bytes(),
        "rootfs/usr/local/bin/app": (app.read_bytes(), 0o755),
        "rootfs/opt/app/shop.ear": archives["ear"].read_bytes(),
        "rootfs/opt/app/service.jar": archives["fat"].read_bytes(),
        "rootfs/srv/web/package.json": (locks / "pnpm-v9" / "package.json").read_bytes(),
        "rootfs/srv/web/pnpm-lock.yaml": (locks / "pnpm-v9" / "pnpm-lock.yaml").read_bytes(),
        "rootfs/srv/admin/package.json": (locks / "yarn-berry-v4" / "package.json").read_bytes(),
        "rootfs/srv/admin/yarn.lock": (locks / "yarn-berry-v4" / "yarn.lock").read_bytes(),
    }
    return builder.build("corpus-rocky-mix", ROCKY_DOCKERFILE, files)


CORPUS: tuple[CorpusImage, ...] = (
    CorpusImage("debian-app", "Debian 12 dpkg (this machine's) + npm + Python", build_debian_app),
    CorpusImage("alpine", "Alpine 3.19 apk database", build_alpine),
    CorpusImage(
        "rocky-mix", "Rocky 9 rpmdb.sqlite + Go executable + Java archives + pnpm/yarn", build_rocky_mix
    ),
)


def corpus_image(name: str) -> CorpusImage:
    for entry in CORPUS:
        if entry.name == name:
            return entry
    raise KeyError(f"no corpus image {name!r}; known: {', '.join(e.name for e in CORPUS)}")
