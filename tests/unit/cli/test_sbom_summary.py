"""``shipflow sbom``'s summary: plain aligned lines to a pipe, the same counts as the rich table."""

from __future__ import annotations

import io

from rich.console import Console

from shipflow.cli.sbom_cmds import summary_lines, summary_table
from shipflow.sbom import Distro, Inventory, Package


def _inventory() -> Inventory:
    packages = [Package(f"lib{i}", "1.0", "deb", f"pkg:deb/debian/lib{i}@1.0") for i in range(12)]
    packages += [Package("left-pad", "1.3.0", "npm", "pkg:npm/left-pad@1.3.0")]
    packages += [Package(n, "2.0", "python", f"pkg:pypi/{n}@2.0") for n in ("six", "idna")]
    return Inventory(
        subject="oci:./img:[b]v1[/b]",
        distro=Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        packages=packages,
    )


def test_summary_lines_are_the_counts_aligned() -> None:
    assert summary_lines(_inventory()) == [
        "oci:./img:[b]v1[/b]  (Debian GNU/Linux 12 (bookworm))",
        "type    packages",
        "deb           12",
        "npm            1",
        "python         2",
        "total         15",
    ]


def test_summary_lines_without_packages_or_distro() -> None:
    assert summary_lines(Inventory(subject="/src")) == ["/src", "type   packages", "total         0"]


def test_plain_lines_and_table_carry_the_same_rows() -> None:
    out = io.StringIO()
    Console(file=out, width=100, markup=False, color_system=None).print(summary_table(_inventory()))
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "type" in line)  # below the title
    cells = [[c for c in line.split() if c.isalnum()] for line in lines[start:]]
    assert [row for row in cells if row] == [line.split() for line in summary_lines(_inventory())[1:]]
