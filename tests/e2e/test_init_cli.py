"""``shipflow init`` as a user runs it: dry run, JSON, conflicts, --force, the image default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from shipflow.scaffold import FILES

SHIPFLOW = str(Path(sys.executable).parent / "shipflow")


def shipflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHIPFLOW, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_dry_run_writes_nothing_and_shows_everything(tmp_path: Path) -> None:
    result = shipflow(
        "init", str(tmp_path / "repo"), "--dry-run", "--json", "--image", "ghcr.io/immoflowme/app"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dryRun"] is True and data["image"] == "ghcr.io/immoflowme/app"
    assert [f["path"] for f in data["files"]] == [f.path for f in FILES]
    assert all(f["action"] == "create" and f["written"] is False for f in data["files"])
    shipflow_yaml = next(f for f in data["files"] if f["path"] == "shipflow.yaml")
    assert "image: ghcr.io/immoflowme/app" in shipflow_yaml["content"]
    assert not (tmp_path / "repo").exists()

    text = shipflow("init", str(tmp_path / "repo"), "--dry-run")
    assert text.returncode == 0 and "nothing written" in text.stdout
    assert ".github/workflows/promote.yml" in text.stdout


def test_init_then_conflicts_then_force(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:ImmoflowMe/App.git"],
        check=True,
    )
    first = shipflow("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "image: ghcr.io/immoflowme/app" in first.stdout  # from the git remote
    assert "Next steps" in first.stdout
    for item in FILES:
        assert (tmp_path / item.path).is_file()

    again = shipflow("init", "--json", cwd=tmp_path)
    assert {f["action"] for f in json.loads(again.stdout)["files"]} == {"unchanged"}

    (tmp_path / "shipflow.yaml").write_text("image: mine\n")
    refused = shipflow("init", cwd=tmp_path)
    assert refused.returncode == 2
    assert "shipflow.yaml" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / "shipflow.yaml").read_text() == "image: mine\n"

    forced = shipflow("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "overwrote" in forced.stdout
    assert "image: ghcr.io/immoflowme/app" in (tmp_path / "shipflow.yaml").read_text()


def test_bad_image_is_a_usage_error(tmp_path: Path) -> None:
    result = shipflow("init", str(tmp_path), "--image", "Ghcr.io/Org/App:1.0")
    assert result.returncode == 2 and "not an image repository" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_verify_image_script_refuses_tags(tmp_path: Path) -> None:
    assert shipflow("init", str(tmp_path / "repo")).returncode == 0
    script = tmp_path / "repo" / "tools" / "verify-image.sh"
    usage = subprocess.run([str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    tagged = subprocess.run([str(script), "ghcr.io/org/app:latest"], capture_output=True, text=True)
    assert tagged.returncode == 2 and "never by a tag" in tagged.stderr
    # without shipflow on PATH it says how to get it, and exits 3 (infrastructure)
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh",):
        (bare / tool).symlink_to(shutil.which(tool) or "/bin/sh")
    missing = subprocess.run(
        ["/bin/sh", str(script), "ghcr.io/org/app@sha256:" + "a" * 64],
        capture_output=True,
        text=True,
        env={"PATH": str(bare)},
    )
    assert missing.returncode == 3 and "pip install shipflow==" in missing.stderr
