#!/usr/bin/env bash
# `make demo`: shipflow's main job on the embedded default (an OCI layout on disk), start to
# finish, in under a minute on a fresh Debian machine (after `.ci/run`-style installs:
# docker-registry, buildah or umoci, skopeo, busybox-static, and the project's venv).
#
#   1. build a small real image (FROM scratch + Debian's static busybox, and an app that ships
#      lodash 4.17.15) into an OCI layout with buildah (umoci if buildah is missing);
#   2. sign it (a fresh cosign-format key pair), verify the signature, write an SPDX SBOM and
#      attach it as a signed attestation;
#   3. scan it offline against real OSV advisories: the CRITICAL/HIGH gate fails; with a
#      documented, expiring exception the gate passes and the signed report is attached;
#   4. promote by digest in the layout: verify, then tag dev (no rebuild, no blob moves);
#   5. start a throwaway CNCF registry on a free 127.0.0.1 port (stopped again on exit, always);
#      copy layout -> registry (with signatures and attestations) -> a second layout, and
#      across repositories inside the registry (blobs mounted, no bytes move);
#   6. one digest everywhere, confirmed by skopeo; the signature verifies at the destination;
#   7. promote the verified digest to staging in the registry.
#
# Everything lives in a temporary directory that is removed at the end
# (KEEP=1 keeps it and prints where).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$ROOT/.venv/bin/shipflow" ]]; then
    SHIPFLOW="$ROOT/.venv/bin/shipflow"
    PYTHON="$ROOT/.venv/bin/python"
else
    SHIPFLOW="$(command -v shipflow || true)"
    PYTHON="$(command -v python3)"
fi

bold=""; dim=""; reset=""
if [[ -t 1 ]]; then bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[[ -n "$SHIPFLOW" ]] || die "shipflow is not installed: run 'make venv' (or 'bash .ci/run') first"
command -v docker-registry >/dev/null || die "docker-registry is missing: apt-get install -y docker-registry"
[[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install -y busybox-static"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/shipflow-demo.XXXXXX")"
REGISTRY_PID=""
cleanup() {
    local status=$?
    if [[ -n "$REGISTRY_PID" ]] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    if [[ -d "$WORK/buildah" ]] && command -v buildah >/dev/null; then
        buildah --storage-driver vfs --root "$WORK/buildah/root" --runroot "$WORK/buildah/runroot" \
            rm --all >/dev/null 2>&1 || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "demo files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    if [[ $status -ne 0 ]]; then
        echo "demo FAILED (exit $status)" >&2
        if [[ -f "$WORK/registry.log" ]]; then tail -n 20 "$WORK/registry.log" >&2; fi
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BUILD="$WORK/build"        # the layout the image is built into
ROUNDTRIP="$WORK/roundtrip" # the layout it comes back to

# --- 1. build ------------------------------------------------------------------------------
# The app's dependency as npm installs it: node_modules/<name>/package.json is the record
# image scanners (shipflow, trivy, syft) trust. lodash 4.17.15 has real, published advisories.
app_files() {
    mkdir -p "$1/node_modules/lodash"
    printf '{"name": "demo-app", "version": "1.0.0", "dependencies": {"lodash": "4.17.15"}}\n' >"$1/package.json"
    printf '{"name": "lodash", "version": "4.17.15", "license": "MIT"}\n' >"$1/node_modules/lodash/package.json"
}

build_with_buildah() {
    local ctx="$WORK/context" bh=(buildah --storage-driver vfs --root "$WORK/buildah/root" --runroot "$WORK/buildah/runroot")
    mkdir -p "$ctx" "$WORK/buildah/tmp"
    cp /bin/busybox "$ctx/busybox"
    app_files "$ctx/app"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY app /app
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN echo "hello from the shipflow demo" > /etc/motd
LABEL org.opencontainers.image.title="shipflow-demo"
CMD ["/bin/sh", "-c", "cat /etc/motd"]
EOF
    printf '%s$ buildah bud --isolation chroot --timestamp 0 -t shipflow-demo %s%s\n' "$dim" "$ctx" "$reset"
    TMPDIR="$WORK/buildah/tmp" "${bh[@]}" bud --quiet --isolation chroot --timestamp 0 --pull=never \
        -f "$ctx/Dockerfile" -t localhost/shipflow-demo:1.0 "$ctx" >/dev/null
    run env TMPDIR="$WORK/buildah/tmp" "${bh[@]}" push --quiet --format oci \
        localhost/shipflow-demo:1.0 "oci:$BUILD:1.0"
}

build_with_umoci() {
    run umoci init --layout "$BUILD"
    run umoci new --image "$BUILD:1.0"
    umoci unpack --rootless --image "$BUILD:1.0" "$WORK/bundle" >/dev/null
    mkdir -p "$WORK/bundle/rootfs/bin" "$WORK/bundle/rootfs/etc"
    cp /bin/busybox "$WORK/bundle/rootfs/bin/busybox"
    app_files "$WORK/bundle/rootfs/app"
    echo "hello from the shipflow demo" >"$WORK/bundle/rootfs/etc/motd"
    run umoci repack --image "$BUILD:1.0" "$WORK/bundle"
    run umoci config --image "$BUILD:1.0" --config.cmd /bin/busybox --config.cmd cat --config.cmd /etc/motd
}

step "1. Build a small real image (FROM scratch + busybox) into the OCI layout $BUILD"
if command -v buildah >/dev/null; then
    build_with_buildah
elif command -v umoci >/dev/null; then
    echo "(buildah not found: building with umoci)"
    build_with_umoci
else
    die "neither buildah nor umoci is installed: apt-get install -y buildah"
fi
run "$SHIPFLOW" inspect "oci:$BUILD:1.0"
BUILT="$("$SHIPFLOW" digest "oci:$BUILD:1.0")"

# --- 2. sign, verify, SBOM ------------------------------------------------------------------
STORE="oci:$BUILD"
IMAGE="$STORE@$BUILT"
export COSIGN_PASSWORD="demo-password-$RANDOM"   # the spec's secret names; never printed
step "2. Sign the digest (cosign-compatible), verify it, attach a signed SBOM"
(cd "$WORK" && run "$SHIPFLOW" keygen)
run "$SHIPFLOW" sign --key "$WORK/cosign.key" --identity demo/app "$IMAGE"
run "$SHIPFLOW" verify --key "$WORK/cosign.pub" "$IMAGE"
run "$SHIPFLOW" sbom "$IMAGE" -o "$WORK/sbom.spdx.json"
run "$SHIPFLOW" attest --key "$WORK/cosign.key" --type spdxjson --predicate "$WORK/sbom.spdx.json" "$IMAGE"

# --- 3. scan and gate -----------------------------------------------------------------------
step "3. Scan offline against real OSV advisories (tests/data/osv, CC-BY-4.0): gate CRITICAL,HIGH"
export SHIPFLOW_DB="$WORK/advisories.db"
run "$SHIPFLOW" db import "$ROOT/tests/data/osv/records"
set +e
(cd "$WORK" && run "$SHIPFLOW" scan --fail-on CRITICAL,HIGH --max-db-age off "$IMAGE")
gate=$?
set -e
[[ $gate -eq 1 ]] || die "expected the vulnerability gate to fail (exit 1), got exit $gate"
echo "  the gate failed (exit 1), as it should: this digest may not be promoted yet"
cat >"$WORK/.shipflowignore.yaml" <<EOF
# Accepted risk, with an owner's reason and an expiry: after that date the gate fails again.
ignore:
  - id: GHSA-p6mc-m468-83gw
    reason: "demo: prototype pollution in zipObjectDeep; the app never calls it"
    expires: $(date -u -d '+30 days' +%Y-%m-%d)
  - id: GHSA-35jh-r3h4-6jhm
    reason: "demo: command injection via template; the app renders no templates"
    expires: $(date -u -d '+30 days' +%Y-%m-%d)
EOF
echo "  with a documented, expiring exception ($WORK/.shipflowignore.yaml):"
(cd "$WORK" && run "$SHIPFLOW" scan --fail-on CRITICAL,HIGH --max-db-age off \
    --attest --key "$WORK/cosign.key" "$IMAGE")
run "$SHIPFLOW" verify-attestation --key "$WORK/cosign.pub" --type vuln "$IMAGE" >/dev/null
echo "  the signed scan report is attached to the digest and verifies"

# --- 4. promote in the layout ---------------------------------------------------------------
step "4. Promote by digest in the layout: verify first, then tag dev (no rebuild, no blob moves)"
run "$SHIPFLOW" verify --key "$WORK/cosign.pub" "$IMAGE" >/dev/null
run "$SHIPFLOW" tag "$IMAGE" dev

# --- 5. registry ---------------------------------------------------------------------------
step "5. Start a throwaway CNCF distribution registry on 127.0.0.1"
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
REG="127.0.0.1:$PORT"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry-data}, delete: {enabled: true}}
http: {addr: "$REG", secret: shipflow-demo}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 1 100); do
    if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://$REG/v2/', timeout=1)" 2>/dev/null; then
        break
    fi
    kill -0 "$REGISTRY_PID" 2>/dev/null || die "docker-registry exited: $(cat "$WORK/registry.log")"
    sleep 0.1
done
echo "registry listening on http://$REG (pid $REGISTRY_PID)"

# --- 3. copies -----------------------------------------------------------------------------
step "   Copy layout -> registry (signatures and attestations too) -> second layout"
run "$SHIPFLOW" copy --with-attachments "oci:$BUILD:1.0" "$REG/demo/app:1.0"
run "$SHIPFLOW" copy "$REG/demo/app:1.0" "oci:$ROUNDTRIP:1.0"

step "   ... and across repositories on the same registry: blobs are mounted, no bytes move"
run "$SHIPFLOW" copy "$REG/demo/app@$BUILT" "$REG/demo/mirror:1.0"

# --- 6. one digest everywhere --------------------------------------------------------------
step "6. Inspect both ends: one digest everywhere; the signature verifies in the registry"
run "$SHIPFLOW" inspect "$REG/demo/app:1.0"
run "$SHIPFLOW" inspect "oci:$ROUNDTRIP:1.0"
IN_REGISTRY="$("$SHIPFLOW" digest "$REG/demo/app:1.0")"
ROUND="$("$SHIPFLOW" digest "oci:$ROUNDTRIP:1.0")"
MIRROR="$("$SHIPFLOW" digest "$REG/demo/mirror:1.0")"
printf '  %-28s %s\n' "built layout" "$BUILT" "registry demo/app:1.0" "$IN_REGISTRY" \
    "registry demo/mirror:1.0" "$MIRROR" "round-trip layout" "$ROUND"
if command -v skopeo >/dev/null; then
    SKOPEO="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/demo/app:1.0")"
    printf '  %-28s %s\n' "skopeo (independent check)" "$SKOPEO"
else
    SKOPEO="$BUILT"
fi
if [[ "$BUILT" != "$IN_REGISTRY" || "$BUILT" != "$ROUND" || "$BUILT" != "$MIRROR" || "$BUILT" != "$SKOPEO" ]]; then
    die "digests differ: the round trip changed the image"
fi
echo "  identical: the image was never re-serialised"
run "$SHIPFLOW" verify --key "$WORK/cosign.pub" "$REG/demo/app@$BUILT" >/dev/null
echo "  signature verified at the destination"

# --- 7. promotion by tag -------------------------------------------------------------------
step "7. Promote the verified digest: dev, then staging (one manifest write each, no blob moves)"
run "$SHIPFLOW" tag "$REG/demo/app@$BUILT" dev
run "$SHIPFLOW" tag "$REG/demo/app:dev" staging
run "$SHIPFLOW" tags "$REG/demo/app"
run "$SHIPFLOW" inspect "$REG/demo/app:staging"

step "Done: built once, signed, scanned, copied three times, promoted - one digest: $BUILT"
