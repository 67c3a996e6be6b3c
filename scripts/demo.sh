#!/usr/bin/env bash
# `make demo`: shipflow's OCI round trip on the embedded default, start to finish, in about
# half a minute on a fresh Debian machine (after `.ci/run`-style installs: docker-registry,
# buildah or umoci, skopeo, busybox-static, and the project's venv).
#
#   1. build a small real image (FROM scratch + Debian's static busybox) into an OCI layout
#      with buildah (umoci if buildah is missing);
#   2. start a throwaway CNCF registry on a free 127.0.0.1 port (stopped again on exit, always);
#   3. shipflow copy: layout -> registry -> a second layout, and a cross-repository copy
#      inside the registry (blobs mounted, no bytes moved);
#   4. shipflow inspect/digest at every stop: one digest everywhere, confirmed by skopeo;
#   5. shipflow tag: promote the digest to dev, then staging (a tag moves; no blob does).
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
build_with_buildah() {
    local ctx="$WORK/context" bh=(buildah --storage-driver vfs --root "$WORK/buildah/root" --runroot "$WORK/buildah/runroot")
    mkdir -p "$ctx" "$WORK/buildah/tmp"
    cp /bin/busybox "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
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

# --- 2. registry ---------------------------------------------------------------------------
step "2. Start a throwaway CNCF distribution registry on 127.0.0.1"
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
step "3. Copy layout -> registry -> second layout (digests preserved, tag written last)"
run "$SHIPFLOW" copy "oci:$BUILD:1.0" "$REG/demo/app:1.0"
run "$SHIPFLOW" copy "$REG/demo/app:1.0" "oci:$ROUNDTRIP:1.0"

step "   ... and across repositories on the same registry: blobs are mounted, no bytes move"
run "$SHIPFLOW" copy "$REG/demo/app@$BUILT" "$REG/demo/mirror:1.0"

# --- 4. one digest everywhere --------------------------------------------------------------
step "4. Inspect both ends: one digest everywhere"
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

# --- 5. promotion by tag -------------------------------------------------------------------
step "5. Promote by digest: tag dev, then staging (one manifest write each, no blob moves)"
run "$SHIPFLOW" tag "$REG/demo/app@$BUILT" dev
run "$SHIPFLOW" tag "$REG/demo/app:dev" staging
run "$SHIPFLOW" tags "$REG/demo/app"
run "$SHIPFLOW" inspect "$REG/demo/app:staging"

step "Done: built once, copied three times, promoted twice - one digest: $BUILT"
