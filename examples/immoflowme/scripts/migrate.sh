#!/bin/sh
# Apply the SQL migrations in order to $DATABASE_URL (or $1), each once.
#
#   DATABASE_URL=postgresql://user@host:5432/db scripts/migrate.sh [MIGRATIONS_DIR]
#
# Every file NNN_name.sql not yet recorded in schema_migrations runs in its own transaction
# (psql --single-transaction, ON_ERROR_STOP) together with the row that records it, so a failing
# migration leaves nothing behind and the next run starts at the same file. Usable as the
# migration gate's command: `shipflow migration check --database-url URL -- scripts/migrate.sh`.
# Needs psql (Debian: postgresql-client). Exit 0 all applied, 1 a migration failed, 2 usage.
set -eu
dir="${1:-$(dirname "$0")/../migrations}"
[ -d "$dir" ] || dir=/app/migrations
: "${DATABASE_URL:?set DATABASE_URL to the database to migrate}"
command -v psql >/dev/null 2>&1 || { echo "migrate: psql is missing (apt-get install -y postgresql-client)" >&2; exit 2; }

psql_do() { psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_do -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now())"

applied=0
for file in "$dir"/*.sql; do
  [ -e "$file" ] || { echo "migrate: no .sql files in $dir" >&2; exit 2; }
  version="$(basename "$file" .sql)"
  case "$version" in *[!A-Za-z0-9_-]*) echo "migrate: bad file name $file" >&2; exit 2 ;; esac
  done_already="$(psql_do -At -c "SELECT 1 FROM schema_migrations WHERE version = '$version'")"
  [ -n "$done_already" ] && continue
  echo "migrate: applying $version"
  if ! psql_do --single-transaction -f "$file" \
      -c "INSERT INTO schema_migrations (version) VALUES ('$version')"; then
    echo "migrate: $version FAILED; nothing of it was applied" >&2
    exit 1
  fi
  applied=$((applied + 1))
done
echo "migrate: $applied applied, database at $(psql_do -At -c 'SELECT max(version) FROM schema_migrations')"
