#!/usr/bin/env bash
# Starts the local PostgreSQL cluster if it is down and creates GeoGrid's role and database.
# Arguments: ROLE PASSWORD DATABASE [DATABASE...]; the first database is the one `make run` serves.
set -euo pipefail
role=$1 password=$2
shift 2

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [ -z "$version" ]; then
  echo "PostgreSQL is not installed (run scripts/install-system.sh)." >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  echo "Creating PostgreSQL cluster $version/main"
  pg_createcluster --locale C.UTF-8 --encoding UTF8 "$version" main
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  echo "Starting PostgreSQL $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 1 30); do
  pg_isready -q -p "$port" && break
  sleep 1
done

psql_postgres() { as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }

# Test databases are created from template1, so it carries the extensions the role may not create.
if [ -z "$(psql_postgres -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]; then
  echo "Creating role $role"
  psql_postgres -d postgres -c "CREATE ROLE \"$role\" LOGIN CREATEDB PASSWORD '$password'"
fi
for db in template1 "$@"; do
  if [ -z "$(psql_postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    echo "Creating database $db"
    psql_postgres -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$role\""
  fi
  psql_postgres -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist; CREATE EXTENSION IF NOT EXISTS pg_trgm;"
done
