#!/bin/sh
# Verify an image before it is deployed: its cosign signature and a CRITICAL/HIGH scan.
#
#   ./tools/verify-image.sh ghcr.io/org/app@sha256:abc123...
#   ./tools/verify-image.sh ghcr.io/org/app@sha256:abc123... --promoted-to staging
#
# Checks:
#   1. cosign signature (the trusted keys of shipflow.yaml)
#   2. vulnerability scan, CRITICAL/HIGH fail
# Written by `shipflow init` (shipflow @SHIPFLOW_VERSION@); it runs `shipflow verify-image`.
# Exit codes: 0 verified, 1 a check failed, 2 usage, 3 infrastructure (registry, database).
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: $0 IMAGE@sha256:DIGEST [--promoted-to ENV]" >&2
  exit 2
fi
case "$1" in
  *@sha256:*) ;;
  *)
    echo "verify-image: name the image by its digest (IMAGE@sha256:...), never by a tag: a tag can move" >&2
    exit 2
    ;;
esac
if ! command -v shipflow >/dev/null 2>&1; then
  echo "verify-image: shipflow is not installed (pip install shipflow==@SHIPFLOW_VERSION@)" >&2
  exit 3
fi
exec shipflow verify-image "$@"
