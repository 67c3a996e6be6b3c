#!/usr/bin/env bash
# `make demo`: the specification's pipeline on one machine, on the embedded default (an OCI
# layout store, the `local` deploy target, a throwaway PostgreSQL):
#
#   1. release the example service 1.0.0: build once, sign, SBOM, scan, provenance, tag :dev
#      (the dev environment then runs it, on 127.0.0.1)
#   2. promote dev → staging by digest: signature, a re-scan, the migration dry run against the
#      throwaway PostgreSQL, the smoke tests against dev
#   3. promote staging → canary (a tech lead), then `shipflow canary`: deploy it, watch its
#      health, keep it
#   4. an approval by a second tech lead, and canary → production
#   5. release 1.1.0, which starts failing its health check 12 s after it starts, and take it
#      the same way: its canary is rolled back automatically to 1.0.0
#   6. `shipflow status` and the canary's history
#
# Everything lives in a temporary directory and is removed at the end, processes included
# (KEEP=1 keeps the directory and prints where). Run it again and it works again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHIPFLOW="$ROOT/.venv/bin/shipflow"
PYTHON="$ROOT/.venv/bin/python"

bold=""; dim=""; reset=""
if [[ -t 1 ]]; then bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
say() { printf '    %s\n' "$*"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
started=$SECONDS
stage() { printf '%s    (%d s so far)%s\n' "$dim" "$((SECONDS - started))" "$reset"; }

[[ -x "$SHIPFLOW" ]] || die "shipflow is not installed: run 'make demo' (it sets the machine up), or 'make venv'"
[[ "$(id -u)" == 0 ]] || die "the local deploy target runs images with unshare --root, which needs root: run as root"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL is missing: apt-get install -y postgresql"
command -v buildah >/dev/null || die "buildah is missing: apt-get install -y buildah"

WORK="$(mktemp -d /tmp/shipflow-demo.XXXXXX)"
chmod 755 "$WORK"
PG_PID=""
cleanup() {
    local code=$?
    # The environments' processes (the local deploy target keeps one state file per environment).
    for state in "$WORK"/local/*.json; do
        [[ -e "$state" ]] || continue
        pid="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pid") or "")' "$state" 2>/dev/null || true)"
        [[ -n "$pid" ]] && kill -TERM -- "-$pid" 2>/dev/null || true
    done
    if [[ -n "$PG_PID" ]]; then
        # runuser does not pass signals on: stop the postmaster itself (a fast shutdown).
        local postmaster
        postmaster="$(head -n 1 "$WORK/pg/data/postmaster.pid" 2>/dev/null || true)"
        [[ -n "$postmaster" ]] && kill -INT "$postmaster" 2>/dev/null || true
        wait "$PG_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then
        printf '\ndemo: kept %s\n' "$WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export COSIGN_PASSWORD="demo-password"      # the keys below are made for this run only
export SHIPFLOW_DB="$WORK/advisories.db"
export GITHUB_ACTOR=""                        # who acts is said with --actor, step by step
unset GITHUB_ACTIONS GITHUB_OUTPUT GITHUB_STEP_SUMMARY COSIGN_PRIVATE_KEY 2>/dev/null || true

step "Set-up: a throwaway PostgreSQL (the 'production' schema the migration dry run copies)"
PG_PORT="$(free_port)"
mkdir -p "$WORK/pg"
chown postgres "$WORK/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$PG_BIN/postgres" -D "$WORK/pg/data" -h 127.0.0.1 -p "$PG_PORT" -k "$WORK/pg" \
    -c fsync=off -c full_page_writes=off >"$WORK/pg/server.log" 2>&1 &
PG_PID=$!
for _ in $(seq 100); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.1
done
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL did not start: $(tail -n 5 "$WORK/pg/server.log")"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE immoflowme LOGIN CREATEDB PASSWORD 'demo-db-password'" >/dev/null
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE immoflowme OWNER immoflowme" >/dev/null
export STAGING_DATABASE_URL="postgresql://immoflowme:demo-db-password@127.0.0.1:$PG_PORT/immoflowme"
say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (STAGING_DATABASE_URL is set; shipflow never prints it)"

step "Set-up: the user's repository (the example service), keys, the advisory database, shipflow.yaml"
APP="$WORK/app"
REVISION="$(bash "$ROOT/examples/immoflowme/prepare.sh" "$APP" 1.0.0)"
say "examples/immoflowme committed at $REVISION"
mkdir -p "$APP/keys"
for who in ci lead-1 lead-2; do
    "$SHIPFLOW" keygen --output-key-prefix "$APP/keys/$who" >/dev/null
done
say "cosign key pairs: keys/ci (CI signs images and records), keys/lead-1, keys/lead-2 (approvers)"
run "$SHIPFLOW" db import "$ROOT/tests/data/osv/records"
DEV_PORT="$(free_port)"; STAGING_PORT="$(free_port)"; CANARY_PORT="$(free_port)"; PROD_PORT="$(free_port)"
cat >"$APP/shipflow.yaml" <<EOF
image: oci:$WORK/store
keys:
  trusted: [keys/ci.pub]
roles:
  ci: ["github-actions[bot]"]
  developer: [dev-1]
  tech-lead: [lead-1, lead-2]
approvers:
  lead-1: keys/lead-1.pub
  lead-2: keys/lead-2.pub
environments:
  dev:
    promoted_by: [ci]
    url: http://127.0.0.1:$DEV_PORT
    deploy: {target: local, port: $DEV_PORT, state_dir: $WORK/local}
  staging:
    from: dev
    promoted_by: [developer]
    gates: [signature, vulnerabilities, migration, smoke]
    url: http://127.0.0.1:$STAGING_PORT
    deploy: {target: local, port: $STAGING_PORT, state_dir: $WORK/local}
  canary:
    from: staging
    promoted_by: [tech-lead]
    gates: [signature, migration]
  production:
    from: canary
    promoted_by: [tech-lead]
    gates: [signature, approvals]
    approvals: 1
    deploy: {target: local, port: $PROD_PORT, state_dir: $WORK/local}
gates:
  vulnerabilities: {fail_on: [CRITICAL, HIGH], db: $WORK/advisories.db}
  migration: {database_url: "\${STAGING_DATABASE_URL}", command: [scripts/migrate.sh], timeout: 120}
  smoke: {command: [scripts/smoke.sh], timeout: 60}
canary:
  health_url: http://127.0.0.1:$CANARY_PORT/api/health
  interval: 1s
  duration: 20s
  timeout: 800ms
  failure_threshold: 3
  promoted_from: staging
  expect: {status: 200, json: {status: ok}}
  deploy: {target: local, port: $CANARY_PORT, state_dir: $WORK/local}
EOF
say "shipflow.yaml: dev :$DEV_PORT, staging :$STAGING_PORT, canary :$CANARY_PORT, production :$PROD_PORT (local deploys)"
cd "$APP"
stage

release() { # version, extra build args...
    local version="$1"; shift
    local args=(release "$APP" --version "$version" --build-arg "VERSION=$version" "$@"
        --actor "github-actions[bot]" --key keys/ci.key
        --sbom-output "$WORK/sbom-$version.spdx.json" --sarif "$WORK/scan-$version.sarif" --json)
    printf '%s$ shipflow %s%s\n' "$dim" "${args[*]}" "$reset" >&2
    "$SHIPFLOW" "${args[@]}" >"$WORK/release-$version.json"
    "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_digest"])' "$WORK/release-$version.json"
}

step "1. Release 1.0.0: build once, sign, SBOM, scan, provenance, tag :dev (CI)"
D1="$(release 1.0.0)"
say "image digest $D1"
say "dev answers: $(wget -q -O - "http://127.0.0.1:$DEV_PORT/api/health" 2>/dev/null || busybox wget -q -O - "http://127.0.0.1:$DEV_PORT/api/health")"
say "a second release of the same revision builds nothing:"
D1_AGAIN="$(release 1.0.0)"
[[ "$D1_AGAIN" == "$D1" ]] || die "the second release built a different digest"
say "same digest, reused: $(grep -o '"reused": [a-z]*' "$WORK/release-1.0.0.json")"
stage

step "2. Promote dev → staging (a developer): signature, re-scan, migration dry run, smoke tests"
run "$SHIPFLOW" promote --digest "$D1" --from dev --to staging --actor dev-1 --key keys/ci.key
stage

step "3. Promote staging → canary (a tech lead), then watch the canary"
run "$SHIPFLOW" promote --digest "$D1" --from staging --to canary --actor lead-1 --key keys/ci.key
run "$SHIPFLOW" canary --digest "$D1" --actor lead-1 --first-release
stage

step "4. Approval by the second tech lead, then canary → production"
say "without it, the promotion is refused (exit 1):"
if "$SHIPFLOW" promote --digest "$D1" --from canary --to production --actor lead-1 --key keys/ci.key >/dev/null 2>"$WORK/refused.txt"; then
    die "production was promoted without an approval"
fi
say "$(grep '^error:' "$WORK/refused.txt")"
run "$SHIPFLOW" approve --digest "$D1" --env production --actor lead-2 --key keys/lead-2.key
run "$SHIPFLOW" promote --digest "$D1" --from canary --to production --actor lead-1 --key keys/ci.key
run "$SHIPFLOW" verify-image "oci:$WORK/store@$D1" --promoted-to production
stage

step "5. Release 1.1.0, which starts failing its health check 12 s after it starts"
git -C "$APP" commit -q --allow-empty -m "1.1.0"
D2="$(release 1.1.0 --build-arg FAIL_AFTER=12)"
say "image digest $D2"
run "$SHIPFLOW" promote --digest "$D2" --from dev --to staging --actor dev-2 --key keys/ci.key \
    || say "(refused: dev-2 is not a developer — the rules hold; dev-1 promotes)"
run "$SHIPFLOW" promote --digest "$D2" --from dev --to staging --actor dev-1 --key keys/ci.key
run "$SHIPFLOW" promote --digest "$D2" --from staging --to canary --actor lead-1 --key keys/ci.key
say "the canary: after 3 failed health checks in a row it is rolled back to 1.0.0 (exit 1 is the expected outcome)"
set +e
"$SHIPFLOW" canary --digest "$D2" --actor lead-1
code=$?
set -e
[[ $code == 1 ]] || die "the broken canary was not rolled back (exit $code)"
say "canary answers again: $(busybox wget -q -O - "http://127.0.0.1:$CANARY_PORT/api/health")"
stage

step "6. Where everything is"
run "$SHIPFLOW" status
run "$SHIPFLOW" history canary
printf '\n%sdemo finished in %d s%s\n' "$bold" "$((SECONDS - started))" "$reset"
