#!/bin/sh
# One HTTP/1.1 request on stdin, one response on stdout (Connection: close).
#
#   GET /api/health                      {"status":"ok","version":"1.2.0"}
#   GET /api/version                     {"version":"1.2.0","revision":"<commit>"}
#   GET /api/billing/total?net=N&vat=P   gross in cents, rounded half up (billing parity)
#   GET /api/normalize?iban=TEXT         the IBAN without spaces, upper case
#
# The broken variants (build arguments FAIL_AFTER / HEALTH_MODE, see the Dockerfile):
# FAIL_AFTER=N makes /api/health answer 503 once the server has run N seconds;
# HEALTH_MODE=degraded makes it answer 200 with {"status":"degraded"}.
cr="$(printf '\r')"
VERSION="$(cat /app/VERSION)"
REVISION="$(cat /app/REVISION 2>/dev/null || echo unknown)"
FAIL_AFTER=""
HEALTH_MODE="ok"
# shellcheck disable=SC1091
. /app/build.env

respond() { # status, reason, body
  printf 'HTTP/1.1 %s %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\nX-Immoflowme-Version: %s\r\n\r\n%s' \
    "$1" "$2" "${#3}" "$VERSION" "$3"
  exit 0
}

# A client that connects and sends nothing must not keep this process forever.
read -r -t 10 method target _proto || exit 0
while read -r -t 10 line; do
  line="${line%"$cr"}"
  [ -z "$line" ] && break
done

path="${target%%\?*}"
query=""
case "$target" in *\?*) query="${target#*\?}" ;; esac

param() { # name -> value from the query string (no URL decoding beyond %20 and +)
  printf '%s' "$query" | tr '&' '\n' | sed -n "s/^$1=//p" | head -n 1 | sed 's/%20/ /g; s/+/ /g'
}

[ "$method" = GET ] || respond 405 "Method Not Allowed" '{"error":"only GET"}'

case "$path" in
  /api/health)
    if [ -n "$FAIL_AFTER" ]; then
      now="$(date +%s)"
      if [ $((now - ${IMMOFLOWME_STARTED:-$now})) -ge "$FAIL_AFTER" ]; then
        respond 503 "Service Unavailable" "{\"status\":\"failing\",\"version\":\"$VERSION\"}"
      fi
    fi
    if [ "$HEALTH_MODE" = degraded ]; then
      respond 200 OK "{\"status\":\"degraded\",\"version\":\"$VERSION\"}"
    fi
    respond 200 OK "{\"status\":\"ok\",\"version\":\"$VERSION\"}"
    ;;
  /api/version)
    respond 200 OK "{\"version\":\"$VERSION\",\"revision\":\"$REVISION\"}"
    ;;
  /api/billing/total)
    net="$(param net)"
    vat="$(param vat)"
    case "$net$vat" in '' | *[!0-9]*) respond 400 "Bad Request" '{"error":"net and vat must be whole numbers"}' ;; esac
    # cents * percent / 100, rounded half up: integer arithmetic only, as the billing service does
    gross=$(((net * (100 + vat) + 50) / 100))
    respond 200 OK "{\"net\":$net,\"vat_percent\":$vat,\"gross\":$gross}"
    ;;
  /api/normalize)
    iban="$(param iban | tr -d ' ' | tr 'a-z' 'A-Z')"
    case "$iban" in '' | *[!A-Z0-9]*) respond 400 "Bad Request" '{"error":"iban must be letters and digits"}' ;; esac
    respond 200 OK "{\"iban\":\"$iban\"}"
    ;;
  *)
    respond 404 "Not Found" '{"error":"no such route"}'
    ;;
esac
