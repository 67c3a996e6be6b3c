#!/usr/bin/env bash
# Make this machine ready for `make demo` or `make test`: install what is missing, nothing else.
#
#   bash scripts/setup.sh demo    # what the demo needs: Debian packages + the venv
#   bash scripts/setup.sh test    # what the tests need: the same + the pinned Go peers
#   bash scripts/setup.sh apt|peers|venv   # one step only (.ci/run runs them one by one)
#
# `make demo`, `make test` and `.ci/run` call it first. Every step checks before it acts, so
# when everything is there it only looks (well under 2 s: one dpkg-query, one stamp per Go
# peer, one stamp for the venv) and prints one line per step.
#
# Steps:
#   1. Debian packages (APT_PACKAGES below, and APT_TEST_PACKAGES for `test`; missing ones
#      installed with apt-get, the dpkg lock waited for, transient network failures retried);
#   2. the Go peers at pinned versions, by scripts/install-peers.sh (its PEERS list is the only
#      list of them; `test` only — the demo runs on shipflow alone);
#   3. the venv in $VENV (default .venv): re-made when pyproject.toml is newer than its stamp;
#      src/ compiled to bytecode every time (only what changed; see compile_sources).
#
# Privileges: steps 1 and 2 write system directories. As root they just run. Otherwise, when
# something is missing, they use sudo and say so first; without sudo they stop and name the
# command to run as root. Nothing is escalated when everything is present.
#
# Environment: SHIPFLOW_PEERS_BIN (default /opt/shipflow-peers/bin) where the peers live;
# VENV (default .venv); PYTHON (default python3) the interpreter the venv is made from;
# SHIPFLOW_SETUP_SKIP_APT=1 skips step 1 (a machine whose packages another tool manages).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { echo "usage: bash scripts/setup.sh demo|test|apt|peers|venv" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
profile="$1"
case "$profile" in demo | test | apt | peers | venv) ;; *) usage ;; esac

export DEBIAN_FRONTEND=noninteractive
export SHIPFLOW_PEERS_BIN="${SHIPFLOW_PEERS_BIN:-/opt/shipflow-peers/bin}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

# One entry per package: the tests and the demo use each as a real service or an
# independent peer. (Keep these lists and the README's quick start in step.)
APT_PACKAGES=(
  docker-registry # the CNCF distribution registry 2.8 (tests/fixtures/registry.py, the demo)
  skopeo          # independent copy/inspect, carries cosign attachments
  buildah         # `shipflow build` and the test images (tests/fixtures/images.py)
  umoci           # independent OCI layout tool
  busybox-static  # the one binary inside the FROM-scratch images (the example service)
  postgresql      # a real database for the migration gate (psql for the example's migrations)
  openssl         # independent check of signature bytes
  git             # source revision and commit time of a build
  make
  python3-venv
  ca-certificates
)
# Only the tests need these (`setup.sh test` and `apt`; the demo does without them).
APT_TEST_PACKAGES=(
  rpm             # rpm + rpmbuild: real rpmdb.sqlite for the RPM cataloger, rpm's own version order
  db5.3-util      # db5.3_load: a real Berkeley DB "Packages" (rpm < 4.16) for the RPM cataloger
  openjdk-17-jdk-headless # the JDK's jar tool makes the Java archives the cataloger tests read
  maven           # maven-artifact's ComparableVersion: the real Maven version order for the tests
)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 3; }

# elapsed since $1 (an EPOCHREALTIME value), as "0.12 s"
since() {
  local start="$1" now="$EPOCHREALTIME"
  awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f s", b - a }'
}

# How to run a command as root: nothing (we are root), sudo (announced), or stop with the
# command the user should run. $1 says what needs root, $2 the command to suggest.
AS_ROOT=()
need_root() {
  local what="$1" suggestion="$2"
  if [[ "$(id -u)" == 0 ]]; then
    AS_ROOT=()
    return 0
  fi
  if command -v sudo >/dev/null 2>&1; then
    if sudo -n true 2>/dev/null; then
      say "$what needs root: using sudo (non-interactive)"
    elif [[ -t 0 ]]; then
      say "$what needs root: using sudo, which may ask for your password"
    else
      die "$what needs root, sudo needs a password and there is no terminal to ask on. Run as root: $suggestion"
    fi
    AS_ROOT=(sudo --preserve-env=DEBIAN_FRONTEND,SHIPFLOW_PEERS_BIN,SHIPFLOW_PEERS_ONLY,GOFLAGS)
    return 0
  fi
  die "$what needs root and sudo is not installed. Run as root: $suggestion"
}

# apt-get with the dpkg lock waited for (another apt run, unattended-upgrades) and transient
# network failures retried.
apt_get() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if "${AS_ROOT[@]}" apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 "$@" </dev/null; then
      return 0
    fi
    say "apt-get $1 failed (attempt $attempt/5); retrying in $((attempt * 5)) s" >&2
    sleep $((attempt * 5))
  done
  die "apt-get $* kept failing"
}

step_apt() { # packages...
  local started="$EPOCHREALTIME" missing=() pkg status wanted=("$@")
  if [[ "${SHIPFLOW_SETUP_SKIP_APT:-0}" == 1 ]]; then
    say "Debian packages: skipped (SHIPFLOW_SETUP_SKIP_APT=1)"
    return 0
  fi
  command -v dpkg-query >/dev/null 2>&1 \
    || die "this is not a Debian-like system (no dpkg-query): install by hand: ${wanted[*]}"
  # One dpkg-query for the whole list (a call per package costs ~20 ms each).
  declare -A installed=()
  while read -r pkg status; do
    [[ "$status" == installed ]] && installed[$pkg]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${wanted[@]}" 2>/dev/null || true)
  for pkg in "${wanted[@]}"; do
    [[ -n "${installed[$pkg]:-}" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "Debian packages: all ${#wanted[@]} present ($(since "$started"))"
    return 0
  fi
  say "Debian packages: installing ${missing[*]}"
  need_root "installing Debian packages" "apt-get update && apt-get install -y ${missing[*]}"
  apt_get update -q
  apt_get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  say "Debian packages: installed ${missing[*]} ($(since "$started"))"
}

step_peers() {
  local started="$EPOCHREALTIME" dir="$SHIPFLOW_PEERS_BIN" parent
  # install-peers.sh takes a lock file in the peers directory even when every peer is there,
  # so it needs write access to it (or to the parent that will hold it).
  parent="$dir"
  while [[ ! -e "$parent" ]]; do parent="$(dirname "$parent")"; done
  if [[ -w "$parent" ]]; then
    AS_ROOT=()
  else
    need_root "the Go peers in $dir" "bash scripts/install-peers.sh (or set SHIPFLOW_PEERS_BIN to a directory you own)"
  fi
  if [[ -e "$dir/.lock" ]] && command -v flock >/dev/null 2>&1 && ! flock -n "$dir/.lock" true 2>/dev/null; then
    say "Go peers: another scripts/install-peers.sh is building into $dir; waiting for it to finish"
  fi
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/shipflow-setup-peers.XXXXXX")"
  # Quiet when nothing had to be built; the whole output when something was (or failed).
  if "${AS_ROOT[@]}" bash scripts/install-peers.sh >"$log" 2>&1; then
    if grep -q 'building' "$log"; then
      cat "$log"
      say "Go peers: built into $dir ($(since "$started"))"
    else
      say "Go peers: all present in $dir ($(since "$started"))"
    fi
    rm -f "$log"
  else
    cat "$log" >&2
    rm -f "$log"
    die "scripts/install-peers.sh failed (output above)"
  fi
}

# The editable install runs src/ in place, and PYTHONDONTWRITEBYTECODE (set in many CI and
# container environments) stops Python from caching the compiled modules: every `shipflow` run
# would compile each module it imports again (about 0.1-0.4 s a command, measured in
# benchmarks/RESULTS.md). Compile them once here; Python checks each .pyc against its source and
# ignores a stale one, and this step recompiles only what changed (about 0.1 s when nothing did).
compile_sources() {
  "$VENV/bin/python" -m compileall -q src >/dev/null \
    || die "python -m compileall src failed (a syntax error in src/?)"
}

step_venv() {
  local started="$EPOCHREALTIME" stamp="$VENV/.installed"
  if [[ -f "$stamp" && -x "$VENV/bin/python" && ! "pyproject.toml" -nt "$stamp" ]]; then
    compile_sources
    say "Python venv: $VENV up to date ($(since "$started"))"
    return 0
  fi
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is missing: install Python >= 3.11"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$("$PYTHON" --version 2>&1) is too old: shipflow needs Python >= 3.11 (set PYTHON=...)"
  say "Python venv: installing shipflow with its [test] extras into $VENV"
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV" \
      || die "cannot create a venv with $PYTHON: install python3-venv (apt-get install -y python3-venv)"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  compile_sources
  touch "$stamp"
  say "Python venv: ready ($(since "$started"))"
}

case "$profile" in
  demo) step_apt "${APT_PACKAGES[@]}"; step_venv ;;
  test) step_apt "${APT_PACKAGES[@]}" "${APT_TEST_PACKAGES[@]}"; step_peers; step_venv ;;
  apt) step_apt "${APT_PACKAGES[@]}" "${APT_TEST_PACKAGES[@]}" ;;
  peers) step_peers ;;
  venv) step_venv ;;
esac
