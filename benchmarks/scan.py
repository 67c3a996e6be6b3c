"""Matching speed: 5,000 packages against 50,000 synthetic OSV advisories.

Generates the advisories (npm, PyPI, Go and Debian records with several ranges each) into a
zip as osv.dev publishes them, imports it (timed separately), then times ``scan_inventory``.
Target: matching under 2 s. Run: ``.venv/bin/python benchmarks/scan.py [--advisories N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import zipfile
from pathlib import Path

from shipflow.sbom.model import Distro, Inventory, Package
from shipflow.scan import AdvisoryDB, ScanOptions, import_paths, scan_inventory

ECOSYSTEMS = ("npm", "PyPI", "Go", "Debian:12")


def _version(rng: random.Random, ecosystem: str) -> str:
    major, minor, patch = rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 30)
    if ecosystem == "Debian:12":
        return f"{major}.{minor}.{patch}-{rng.randint(1, 5)}"
    return f"{major}.{minor}.{patch}"


def _record(rng: random.Random, index: int, ecosystem: str, name: str) -> dict[str, object]:
    ranges = []
    for _ in range(rng.randint(1, 3)):
        low = _version(rng, ecosystem)
        high = _version(rng, ecosystem)
        events: list[dict[str, str]] = [{"introduced": rng.choice(["0", low])}]
        events.append(rng.choice([{"fixed": high}, {"last_affected": high}]))
        ranges.append({"type": "SEMVER" if ecosystem == "Go" else "ECOSYSTEM", "events": events})
    return {
        "id": f"BENCH-{index:06d}",
        "modified": "2026-01-01T00:00:00Z",
        "aliases": [f"CVE-2026-{index:06d}"],
        "summary": f"synthetic advisory {index}",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": ecosystem, "name": name}, "ranges": ranges}],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--advisories", type=int, default=50_000)
    parser.add_argument("--packages", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(4)
    names = {
        eco: [f"{eco.split(':')[0].lower()}-pkg-{i}" for i in range(args.advisories // 5)]
        for eco in ECOSYSTEMS
    }
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "all.zip"
        start = time.perf_counter()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for index in range(args.advisories):
                ecosystem = ECOSYSTEMS[index % len(ECOSYSTEMS)]
                record = _record(rng, index, ecosystem, rng.choice(names[ecosystem]))
                zf.writestr(f"{record['id']}.json", json.dumps(record))
        generated = time.perf_counter() - start

        start = time.perf_counter()
        result = import_paths([archive], Path(tmp) / "bench.db")
        imported = time.perf_counter() - start

        purl_type = {"npm": "npm", "PyPI": "pypi", "Go": "golang", "Debian:12": "deb"}
        packages = []
        for i in range(args.packages):
            ecosystem = ECOSYSTEMS[i % len(ECOSYSTEMS)]
            name = rng.choice(names[ecosystem])
            version = _version(rng, ecosystem)
            kind = purl_type[ecosystem]
            packages.append(Package(name, version, kind, f"pkg:{kind}/{name}@{version}"))  # type: ignore[arg-type]
        inventory = Inventory(subject="bench", distro=Distro("debian", "12"), packages=packages)

        db = AdvisoryDB.open(Path(tmp) / "bench.db")
        start = time.perf_counter()
        report = scan_inventory(inventory, db, ScanOptions())
        matched = time.perf_counter() - start
        db.close()

    print(f"advisories: {result.info.advisories} (generated in {generated:.1f} s)")
    print(f"import:     {imported:.2f} s ({result.info.advisories / imported:,.0f} records/s)")
    print(f"matching:   {matched:.2f} s for {len(packages)} packages -> {len(report.findings)} findings")
    print(f"target:     matching < 2 s: {'met' if matched < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
