#!/bin/sh
# immoflowme: a tiny HTTP service made of busybox alone (sh + nc), for shipflow's example.
#
# Listens on $PORT (default 8080) on all addresses; every connection is handled by
# /app/handler.sh in its own process (`nc -ll -e`). nc replaces this shell (exec), so a
# SIGTERM/SIGINT sent to the service stops the listener itself, whoever sends it.
set -eu
PORT="${PORT:-8080}"
case "$PORT" in
  '' | *[!0-9]*) echo "immoflowme: PORT must be a number, got '$PORT'" >&2; exit 2 ;;
esac
IMMOFLOWME_STARTED="$(date +%s)"
export IMMOFLOWME_STARTED
echo "immoflowme $(cat /app/VERSION) listening on port $PORT" >&2
exec nc -ll -p "$PORT" -e /app/handler.sh
