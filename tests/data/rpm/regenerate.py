"""Regenerate the RPM test data with the REAL rpm tools (Debian's ``rpm`` 4.18, ``rpmbuild``,
and ``db5.3_load`` from ``db5.3-util``).

Run from the repository root::

    .venv/bin/python tests/data/rpm/regenerate.py

It builds the packages of ``specs/`` with ``rpmbuild``, installs them into a fresh
``rpmdb.sqlite`` (``rpm --initdb``, ``rpm -i --justdb``), and writes:

* ``headers/NAME.hdr``: each package's header blob exactly as the SQLite database stores it;
* ``Packages``: the same headers in a Berkeley DB hash database written by ``db5.3_load``
  (keys are the 4-byte instance numbers, key 0 the last one, as rpm < 4.16 kept them),
  checked by reading it back with rpm's own ``bdb_ro`` backend;
* ``expected.json``: what ``rpm -qa`` says of each package, the reference for the tests.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERY_FORMAT = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\n"


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="shipflow-rpm-") as tmp:
        work = Path(tmp)
        top = work / "top"
        for spec in sorted((HERE / "specs").glob("*.spec")):
            run("rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec))
        rpms = sorted(str(p) for p in top.glob("RPMS/*/*.rpm"))
        db = work / "db"
        db.mkdir()
        run("rpm", "--initdb", "--dbpath", str(db))
        run("rpm", "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--noscripts", *rpms)
        listing = run("rpm", "--dbpath", str(db), "-qa", "--qf", QUERY_FORMAT)
        connection = sqlite3.connect(db / "rpmdb.sqlite")
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
        connection.close()

        headers = HERE / "headers"
        shutil.rmtree(headers, ignore_errors=True)
        headers.mkdir()
        expected = []
        for line in sorted(listing.splitlines()):
            name, epoch, version, release, arch, source, licence = line.split("\t")
            expected.append(
                {
                    "name": name,
                    "epoch": None if epoch == "(none)" else int(epoch),
                    "version": version,
                    "release": release,
                    "arch": arch,
                    "sourcerpm": source,
                    "license": licence,
                }
            )
        # rpm names each package's database row (its instance number).
        instances = dict(
            line.split(" ", 1)[::-1]
            for line in run(
                "rpm", "--dbpath", str(db), "-qa", "--qf", "%{DBINSTANCE} %{NAME}\\n"
            ).splitlines()
        )
        for hnum, blob in rows:
            name = next(n for n, instance in instances.items() if int(instance) == hnum)
            (headers / f"{name}.hdr").write_bytes(bytes(blob))
        (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")

        lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"]
        lines += [" " + struct.pack("<I", 0).hex(), " " + struct.pack("<I", len(rows)).hex()]
        for hnum, blob in rows:
            lines += [" " + struct.pack("<I", hnum).hex(), " " + bytes(blob).hex()]
        lines.append("DATA=END")
        dump = work / "dump.txt"
        dump.write_text("\n".join(lines) + "\n")
        bdb = work / "bdb"
        bdb.mkdir()
        run("db5.3_load", "-f", str(dump), str(bdb / "Packages"))
        check = run(
            "rpm", "--dbpath", str(bdb), "--define", "_db_backend bdb_ro", "-qa", "--qf", QUERY_FORMAT
        )
        if sorted(check.splitlines()) != sorted(listing.splitlines()):
            sys.exit(f"rpm reads the Berkeley DB differently:\n{check}\n---\n{listing}")
        shutil.copy2(bdb / "Packages", HERE / "Packages")
    print((HERE / "expected.json").read_text())


if __name__ == "__main__":
    main()
