"""Rebuild ``greeter-1.4.2.jar`` with the REAL Maven (Debian's maven 3.8.7, JDK 17).

Run from the repository root (needs Maven Central for the build plugins, the first time)::

    .venv/bin/python tests/data/java/regenerate.py

``greeter/`` is a one-class Maven project; ``mvn package`` writes the jar with the
``META-INF/maven/dev.shipflow.fixture/greeter/pom.properties`` and the manifest (with
``Implementation-Version``) that the Java archive cataloger reads. The build is reproducible
(``project.build.outputTimestamp``), and the plugins go to a throwaway local repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="shipflow-mvn-") as tmp:
        project = Path(tmp) / "greeter"
        shutil.copytree(HERE / "greeter", project)
        result = subprocess.run(
            ["mvn", "-B", "-q", f"-Dmaven.repo.local={tmp}/m2", "package", "-DskipTests"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
        shutil.copy2(project / "target" / "greeter-1.4.2.jar", HERE / "greeter-1.4.2.jar")
    print("wrote", HERE / "greeter-1.4.2.jar")


if __name__ == "__main__":
    main()
