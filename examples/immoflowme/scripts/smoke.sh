#!/bin/sh
# Smoke tests of a running immoflowme: health, version, billing parity, normalisation, 404.
#
#   scripts/smoke.sh [BASE_URL]
#
# BASE_URL defaults to $SMOKE_URL, then $SHIPFLOW_URL, then http://127.0.0.1:${PORT:-8080}.
# With EXPECTED_VERSION set, /api/health must report exactly that version (a promotion gate
# must never pass by testing the old version). Uses curl, or busybox wget where curl is missing.
# Exit 0 every check passed; 1 a check failed (each failure is printed).
set -u
base="${1:-${SMOKE_URL:-${SHIPFLOW_URL:-http://127.0.0.1:${PORT:-8080}}}}"
base="${base%/}"
failures=0
checks=0

fetch() { # url -> sets status and body
  if command -v curl >/dev/null 2>&1; then
    out="$(curl -s -m 5 -w '\n%{http_code}' "$1")" || true
    status="$(printf '%s\n' "$out" | tail -n 1)"
    body="$(printf '%s\n' "$out" | sed '$d')"
  else # busybox wget: the body of an error answer is not shown, only its status
    tmp="$(mktemp)"
    if err="$(busybox wget -q -T 5 -O "$tmp" "$1" 2>&1)"; then
      status=200
    else
      status="$(printf '%s' "$err" | sed -n 's/.*HTTP\/1\.[01] \([0-9][0-9][0-9]\).*/\1/p')"
      status="${status:-000}"
    fi
    body="$(cat "$tmp")"
    rm -f "$tmp"
  fi
}

check() { # name, url, expected status, expected body fragment
  checks=$((checks + 1))
  fetch "$2"
  if [ "$status" = "$3" ] && { [ -z "$body" ] && [ "$3" != 200 ] || case "$body" in *"$4"*) true ;; *) false ;; esac; }; then
    echo "ok   $1"
  else
    echo "FAIL $1: GET $2 -> $status $body (expected $3 with $4)"
    failures=$((failures + 1))
  fi
}

check "health" "$base/api/health" 200 '"status":"ok"'
if [ -n "${EXPECTED_VERSION:-}" ]; then
  check "version is $EXPECTED_VERSION" "$base/api/health" 200 "\"version\":\"$EXPECTED_VERSION\""
fi
check "billing parity 100.00 + 19 %" "$base/api/billing/total?net=10000&vat=19" 200 '"gross":11900'
check "billing parity rounds half up" "$base/api/billing/total?net=1050&vat=7" 200 '"gross":1124'
check "billing refuses garbage" "$base/api/billing/total?net=ten&vat=19" 400 'error'
check "IBAN normalisation" "$base/api/normalize?iban=de89%203704%200044%200532%200130%2000" 200 '"iban":"DE89370400440532013000"'
check "unknown route is 404" "$base/api/nope" 404 'no such route'

echo "smoke: $((checks - failures)) passed, $failures failed against $base"
[ "$failures" -eq 0 ]
