#!/usr/bin/env bash
# `make loadtest`: the demo city served by gunicorn with the production settings, driven by the locust scenario.
# Settings (environment): LOADTEST_USERS (100), LOADTEST_SPAWN_RATE (10 a second), LOADTEST_DURATION (60s),
# LOADTEST_PORT (8100), LOADTEST_WORKERS (4), LOADTEST_THREADS (4), LOADTEST_DB (geogrid_load), LOADTEST_SETUP (1: run
# `make setup` on the load database first; 0 skips it when the database is known to be ready).
set -euo pipefail
cd "$(dirname "$0")/.."

users=${LOADTEST_USERS:-100}
spawn_rate=${LOADTEST_SPAWN_RATE:-10}
duration=${LOADTEST_DURATION:-60s}
port=${LOADTEST_PORT:-8100}
workers=${LOADTEST_WORKERS:-4}
threads=${LOADTEST_THREADS:-4}
db=${LOADTEST_DB:-geogrid_load}
db_role=${DB_ROLE:-geogrid}
db_password=${DB_PASSWORD:-geogrid}
out=var/loadtest
py=.venv/bin/python
mkdir -p "$out"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# The load test writes incidents, visit logs and SMS into its own copy of the demo city, never into `make run`'s.
# Production settings refuse to start without real keys, so the copy gets keys of its own, made once and kept
# beside it: its residents' ID and phone numbers are encrypted with them. Without the keys the copy is unreadable,
# so it is rebuilt.
keys=$out/keys.env
if [ ! -s "$keys" ]; then
  if command -v dropdb > /dev/null; then
    as_postgres dropdb --if-exists "$db" 2> /dev/null || true
  fi
  random_text() { head -c "$1" /dev/urandom | base64 -w 0 | tr '+/' '-_'; }
  umask 077
  {
    echo "SECRET_KEY=$(random_text 48)"
    echo "GEOGRID_FIELD_ENCRYPTION_KEYS=$(random_text 32)"
    echo "GEOGRID_BLIND_INDEX_KEY=$(random_text 32)"
  } > "$keys.new"
  mv "$keys.new" "$keys"
  umask 022
fi
set -a
# shellcheck disable=SC1090
. "$keys"
set +a
export DATABASE_URL="postgis://$db_role:$db_password@127.0.0.1:5432/$db"

if [ "${LOADTEST_SETUP:-1}" = 1 ]; then
  # The same set-up as `make run` (venv, assets, database, migrations, the demo city), on the load database.
  "${MAKE:-make}" --no-print-directory setup DB_NAME="$db"
fi

# The demo is bulk-loaded and this machine's PostgreSQL may run without autovacuum: without statistics the
# planner guesses (a 50,000-row table taken for 48 rows), which a production database kept by autovacuum does not.
PGPASSWORD=$db_password psql -h 127.0.0.1 -U "$db_role" -d "$db" -q -c "SET client_min_messages = error; ANALYZE"

# Every gunicorn thread keeps its own database connection (CONN_MAX_AGE), so workers x threads must stay well below
# what PostgreSQL allows, leaving room for the periodic jobs, psql and other databases on the same server.
max_connections=$(PGPASSWORD=$db_password psql -h 127.0.0.1 -U "$db_role" -d "$db" -tAc 'SHOW max_connections')
connections=$((workers * threads))
echo "gunicorn: $workers workers x $threads threads = at most $connections database connections" \
  "(PostgreSQL max_connections: $max_connections)"
if [ $((connections * 2)) -gt "$max_connections" ]; then
  echo "Too many connections for this PostgreSQL: lower LOADTEST_WORKERS or LOADTEST_THREADS." >&2
  exit 1
fi

stamp=$(date +%Y%m%d-%H%M%S)
# A client key for the residents' Open311 posts, made for this run and deactivated after it.
open311_client="load test $stamp"
LOADTEST_OPEN311_KEY=$($py manage.py open311_client create "$open311_client" 2> "$out/open311.log") \
  || { cat "$out/open311.log" >&2; exit 1; }
# The SMS gateway's shared secret, for this run only: the scenario signs its inbound posts with it.
LOADTEST_SMS_SECRET=$(head -c 24 /dev/urandom | base64 -w 0)
export LOADTEST_OPEN311_KEY LOADTEST_SMS_SECRET

gunicorn_pid="" periodic_pid=""
cleanup() {
  trap - EXIT INT TERM
  for pid in $gunicorn_pid $periodic_pid; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in $gunicorn_pid $periodic_pid; do
    wait "$pid" 2> /dev/null || true
  done
  $py manage.py open311_client deactivate "$open311_client" > /dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_env=(
  DJANGO_SETTINGS_MODULE=geogrid.settings.production
  # Plain HTTP on the loopback: no TLS to redirect to, and the host the scenario calls.
  SECURE_SSL_REDIRECT=False
  ALLOWED_HOSTS=127.0.0.1
  GEOGRID_SMS_SECRET="$LOADTEST_SMS_SECRET"
  # The answers to inbound SMS go to the console backend's log at INFO: left out, errors still show.
  LOG_LEVEL=WARNING
)
if $py -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=2).close()" 2> /dev/null; then
  echo "Something already listens on port $port: set LOADTEST_PORT to a free one." >&2
  exit 1
fi
gunicorn_options=()
# gunicorn 25+ opens a control socket at one fixed path: `make run` may hold it.
if .venv/bin/gunicorn --help | grep -q -- --no-control-socket; then gunicorn_options+=(--no-control-socket); fi
# gthread workers: Python does most of the work and uses one core per process, so two cores need at least two
# processes; four keep a request that holds its interpreter (a PDF, an export) from stalling half the threads,
# and the threads overlap the waits for PostgreSQL (README, "Load test"). No access log: search URLs carry
# residents' names, and locust reports every request anyway.
env "${server_env[@]}" .venv/bin/gunicorn geogrid.wsgi --bind "127.0.0.1:$port" \
  --workers "$workers" --worker-class gthread --threads "$threads" "${gunicorn_options[@]}" \
  > "$out/gunicorn.log" 2>&1 &
gunicorn_pid=$!
# The periodic jobs (deadlines, KPI rollups) run beside the server, as with `make run`.
env "${server_env[@]}" $py manage.py run_periodic > "$out/periodic.log" 2>&1 &
periodic_pid=$!

# Waits for gunicorn to listen (any answer will do here; the warm-up below wants every answer to be 200).
until $py -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=2).close()" 2> /dev/null; do
  kill -0 "$gunicorn_pid" 2> /dev/null || { echo "gunicorn did not start; see $out/gunicorn.log" >&2; exit 1; }
  sleep 1
done

# Every worker loads the URLs and views, and opens its database connections, at its first requests: a server
# that has been up a while has done so, so that is done before the measurement starts.
if ! $py - "$port" << 'EOF'; then
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
with ThreadPoolExecutor(16) as pool:
    list(pool.map(lambda _: urllib.request.urlopen(url, timeout=60).read(), range(64)))
EOF
  echo "The server answers errors before the load test starts; see $out/gunicorn.log" >&2
  exit 1
fi

echo "Load test: $users users (spawning $spawn_rate a second) for $duration against http://127.0.0.1:$port"
status=0
.venv/bin/locust -f loadtest/locustfile.py --headless --host "http://127.0.0.1:$port" \
  --users "$users" --spawn-rate "$spawn_rate" --run-time "$duration" --stop-timeout 10 \
  --csv "$out/loadtest" --html "$out/report.html" --only-summary --loglevel WARNING || status=$?
echo "CSV: $out/loadtest_stats.csv (per endpoint), $out/loadtest_stats_history.csv, $out/loadtest_failures.csv;" \
  "HTML: $out/report.html; server log: $out/gunicorn.log"
exit "$status"
