#!/usr/bin/env bash
# Build the Go "peers" the interop tests and benchmarks run against, each at a pinned version,
# from the Go module proxy into one cache directory (default /opt/shipflow-peers/bin, override with
# SHIPFLOW_PEERS_BIN). A peer already there at its pinned version is skipped, so a second run
# takes well under a second.
#
# Peers (module@version, what it is for, build time measured 2026-11-27 on this project's 2-core
# machine, cold module and build caches, while other jobs shared the CPU):
#   crane   github.com/google/go-containerregistry/cmd/crane@v0.20.2              72 s
#           the speed reference for copy/retag and an independent digest check.
#   cosign  github.com/sigstore/cosign/v2/cmd/cosign@v2.4.1                        6 min 3 s
#           the real cosign (v2: legacy .sig tags by default; v3 writes bundles via referrers):
#           sign with it and verify with shipflow, and the reverse.
#   olareg  github.com/olareg/olareg/cmd/olareg@v0.2.2                              19 s
#           a registry that serves the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest>),
#           with filesystem storage, for tests of the referrers path (Debian's registry has none).
#   syft    github.com/anchore/syft/cmd/syft@v1.57.1                               19 min 47 s *
#           the SBOM peer: package-set agreement (tests/interop/) and SBOM speed (benchmarks/).
#   grype   github.com/anchore/grype/cmd/grype@v0.121.2                            7 min 45 s * (after syft)
#           the scan peer with its own DB format; the DB is built offline by peerdb (below).
#   trivy   github.com/aquasecurity/trivy/cmd/trivy@v0.74.0                        50 min 30 s *
#           the scanner the specification names. Needs GOEXPERIMENT=jsonv2 (without it: "build
#           constraints exclude all Go files in .../encoding/json/jsontext") and peaks at about
#           3.3 GB of memory (one compile of a large package): build it alone, not beside other
#           heavy jobs.
#   peerdb  tools/peerdb (this repository)                                          74 s + 35 s *
#           writes Grype's and Trivy's offline vulnerability DBs from OSV records, so the
#           three scanners can be compared on one set of advisories (neither DB can be
#           downloaded here). Built from the repository's own go.mod, pinned to the grype and
#           trivy-db versions the peers above use.
# * measured 2026-12-01 with a load average of 8-14 (seven other jobs on the two cores);
#   on an idle machine syft takes about 240 s, grype 61 s after it, trivy 581 s (FACTS.md).
# syft, grype and trivy print their version only when it is set at link time: the VERSION-VAR
# column names the variable -X sets (otherwise they print "[not provided]" / "dev").
#   actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12                   < 1 min
#           lints the GitHub workflows `shipflow init` writes (tests/unit/scaffold, tests/integration).
# Already built at the pinned version: skipped in < 1 s.
#
# Which referrers registry, and what did not work (checked 2026-11):
#   * github.com/distribution/distribution/v3/cmd/registry@v3.0.0 builds (217 s), but has NO referrers
#     API: GET /v2/<name>/referrers/<digest> answers 404, and neither v3.0.0 nor v3.1.2 has a
#     referrers route in its source (upstream PR distribution/distribution#4828 is still open).
#   * zot cannot be fetched here: its module path is zotregistry.dev/zot (older: zotregistry.io/zot)
#     and the module proxy this project may use refuses both hosts ("Go module host not
#     permitted: ... module-host allowlist"). By its GitHub path the proxy has no v2 at all, and
#     the v1.4.3 it has declares `module zotregistry.io/zot`, so it cannot be built by that path.
#   * `crane registry serve` (go-containerregistry's in-memory registry) has a referrers handler
#     but the command never enables it (404), and it ignores ?artifactType= and annotations.
#   * olareg works. `go install github.com/olareg/olareg/cmd/olareg@v0.2.2` itself fails because
#     the proxy answers 403 to the module's @v/list (go install reads it to look for a
#     deprecation notice); building it from a throwaway module that requires the pinned version
#     avoids that lookup. go_install below falls back to that route for any peer.
#
# SHIPFLOW_PEERS_ONLY="crane olareg" limits a run to the named peers (peerdb-grype and
# peerdb-trivy are names too).
#
# Needs: Go >= 1.22 on PATH (or in /usr/local/go/bin) and the Go module proxy.
set -euo pipefail

BIN_DIR="${SHIPFLOW_PEERS_BIN:-/opt/shipflow-peers/bin}"
STAMP_DIR="$BIN_DIR/.stamps"
export PATH="$PATH:/usr/local/go/bin"
# A pinned toolchain must not be swapped for a downloaded one behind our back.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# name  package-path  module  version  [version-var|-  [build-env: VAR=VALUE,VAR=VALUE]]
PEERS=(
  "crane  github.com/google/go-containerregistry/cmd/crane  github.com/google/go-containerregistry  v0.20.2"
  "cosign github.com/sigstore/cosign/v2/cmd/cosign         github.com/sigstore/cosign/v2           v2.4.1"
  "olareg github.com/olareg/olareg/cmd/olareg               github.com/olareg/olareg                v0.2.2"
  "syft   github.com/anchore/syft/cmd/syft                  github.com/anchore/syft                 v1.57.1  main.version CGO_ENABLED=0"
  "grype  github.com/anchore/grype/cmd/grype                github.com/anchore/grype                v0.121.2 main.version CGO_ENABLED=0"
  "trivy  github.com/aquasecurity/trivy/cmd/trivy           github.com/aquasecurity/trivy           v0.74.0  github.com/aquasecurity/trivy/pkg/version/app.ver CGO_ENABLED=0,GOEXPERIMENT=jsonv2"
  "actionlint github.com/rhysd/actionlint/cmd/actionlint  github.com/rhysd/actionlint             v1.7.12"
)

log() { printf 'install-peers: %s\n' "$*"; }
die() { printf 'install-peers: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN_DIR" "$STAMP_DIR"
# Two CI jobs on one machine must not build into the same directory at once.
exec 9>"$BIN_DIR/.lock"
flock 9

# Go is only needed when something has to be built (or a binary without a stamp checked).
require_go() {
  command -v go >/dev/null 2>&1 \
    || die "Go is not installed; install Go >= 1.22 (https://go.dev/dl) into /usr/local/go"
  local minor
  minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
  [[ "$minor" =~ ^[0-9]+$ && "$minor" -ge 22 ]] \
    || die "Go $(go env GOVERSION) is too old; cosign v2.4 needs Go >= 1.22"
}

# The module version a Go binary was built from, read from its embedded build info.
built_version() {
  local binary="$1" module="$2"
  go version -m "$binary" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}

is_current() {
  local name="$1" module="$2" version="$3" binary="$BIN_DIR/$1"
  [[ -x "$binary" ]] || return 1
  if [[ "$(cat "$STAMP_DIR/$name" 2>/dev/null)" == "$module@$version" ]]; then
    return 0
  fi
  # No stamp (built by hand, or by an older script): trust the binary's own build info.
  command -v go >/dev/null 2>&1 || return 1
  if [[ "$(built_version "$binary" "$module")" == "$version" ]]; then
    echo "$module@$version" >"$STAMP_DIR/$name"
    return 0
  fi
  return 1
}

# go install PKG@VERSION into $1; if the proxy refuses the lookups `go install pkg@v` makes
# (see olareg above), build from a throwaway module that requires exactly MODULE@VERSION.
# $5 (optional) is the variable that gets the version (-X VAR=VERSION without the "v").
go_install() {
  local gobin="$1" pkg="$2" module="$3" version="$4" version_var="${5:--}" work
  local -a flags=()
  if [[ "$version_var" != "-" ]]; then
    flags=(-trimpath "-ldflags=-s -w -X $version_var=${version#v}")
  fi
  if GOBIN="$gobin" go install "${flags[@]}" "$pkg@$version"; then
    return 0
  fi
  log "  go install $pkg@$version failed; retrying from a throwaway module requiring $module@$version"
  work="$(mktemp -d)"
  (
    cd "$work"
    cat >go.mod <<EOF
module shipflow.local/peers/build

go 1.22

require $module $version
EOF
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >tools.go
    GOFLAGS="$GOFLAGS -mod=mod" go mod tidy && GOBIN="$gobin" go install "${flags[@]}" "$pkg"
  )
  local rc=$?
  rm -rf "$work"
  return $rc
}

failed=()
for line in "${PEERS[@]}"; do
  read -r name pkg module version version_var build_env <<<"$line"
  if [[ -n "${SHIPFLOW_PEERS_ONLY:-}" && " $SHIPFLOW_PEERS_ONLY " != *" $name "* ]]; then
    continue
  fi
  if is_current "$name" "$module" "$version"; then
    log "$name $version: present in $BIN_DIR (skipped)"
    continue
  fi
  require_go
  log "$name $version: building $pkg@$version with $(go env GOVERSION) ..."
  staging="$(mktemp -d "$BIN_DIR/.build-$name.XXXXXX")"
  started=$SECONDS
  env_args=()
  [[ -n "${build_env:-}" && "$build_env" != "-" ]] && IFS=, read -r -a env_args <<<"$build_env"
  if (
    for assignment in "${env_args[@]}"; do export "${assignment?}"; done
    go_install "$staging" "$pkg" "$module" "$version" "${version_var:--}"
  ) && [[ -x "$staging/$name" ]]; then
    # Binary first, stamp last: an interrupted run never leaves a stamp for a missing binary.
    mv -f "$staging/$name" "$BIN_DIR/$name"
    echo "$module@$version" >"$STAMP_DIR/$name"
    log "$name $version: built in $((SECONDS - started)) s"
  else
    log "$name $version: BUILD FAILED after $((SECONDS - started)) s"
    failed+=("$name")
  fi
  rm -rf "$staging"
done

# tools/peerdb: this repository's own builders of Grype's and Trivy's offline DBs, each its own
# Go module pinned to the grype / trivy-db versions above. Stamped with a hash of their sources,
# so an edit rebuilds them. Same flags as the peers (CGO off, -trimpath) so that peerdb-grype
# reuses the build cache of grype.
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for tool in grype trivy; do
  name="peerdb-$tool"
  src="$REPO_DIR/tools/peerdb/$tool"
  if [[ -n "${SHIPFLOW_PEERS_ONLY:-}" && " $SHIPFLOW_PEERS_ONLY " != *" $name "* ]]; then
    continue
  fi
  [[ -f "$src/go.mod" ]] || die "$src/go.mod is missing"
  stamp="$name@$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"
  if [[ -x "$BIN_DIR/$name" && "$(cat "$STAMP_DIR/$name" 2>/dev/null)" == "$stamp" ]]; then
    log "$name: present in $BIN_DIR (skipped)"
    continue
  fi
  require_go
  log "$name: building tools/peerdb/$tool with $(go env GOVERSION) ..."
  staging="$(mktemp -d "$BIN_DIR/.build-$name.XXXXXX")"
  started=$SECONDS
  if (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$staging/$name" .) && [[ -x "$staging/$name" ]]; then
    mv -f "$staging/$name" "$BIN_DIR/$name"
    echo "$stamp" >"$STAMP_DIR/$name"
    log "$name: built in $((SECONDS - started)) s"
  else
    log "$name: BUILD FAILED after $((SECONDS - started)) s"
    failed+=("$name")
  fi
  rm -rf "$staging"
done

if ((${#failed[@]})); then
  die "could not build: ${failed[*]} (see the go output above)"
fi
log "all peers present in $BIN_DIR"
