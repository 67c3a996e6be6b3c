"""Running the real cosign (v2.4.1, built from the Go module proxy) from tests, offline."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PASSWORD = "interop-pass"
VERIFY_FLAGS = ["--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry"]
SIGN_FLAGS = ["--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry"]


def cosign(
    cosign_bin: str, *args: str, password: str = PASSWORD, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSIGN_PASSWORD": password, "COSIGN_YES": "true", "HOME": str(cwd or Path.cwd())}
    env.pop("COSIGN_PRIVATE_KEY", None)
    return subprocess.run(
        [cosign_bin, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
