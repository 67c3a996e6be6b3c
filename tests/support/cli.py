"""Running the ``shipflow`` command from tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


class InProcessCli:
    """Runs ``shipflow`` in this process through the real entry point (exit-code mapping
    included), which saves the interpreter start-up a subprocess costs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(
        self, *args: str, cwd: Path, db: Path, path: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        from shipflow.cli.main import main

        with self.monkeypatch.context() as patch:
            patch.chdir(cwd)
            patch.setenv("SHIPFLOW_DB", str(db))
            patch.delenv("GITHUB_STEP_SUMMARY", raising=False)
            if path is not None:
                patch.setenv("PATH", path)
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            patch.setattr(sys, "argv", ["shipflow", *args])
            self.capsys.readouterr()
            with pytest.raises(SystemExit) as exited:
                main()
            out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), int(exited.value.code or 0), out, err)
