# GeoGrid: `make run` sets everything up and serves the demo city; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := var/stamps
DB_ROLE ?= geogrid
DB_PASSWORD ?= geogrid
DB_NAME ?= geogrid
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= geogrid.settings.base

.PHONY: run test bench bench-reset setup system venv db assets migrate demo messages check lint format serve clean-db

$(STAMPS):
	@mkdir -p $(STAMPS)

# System packages: apt installs only what is missing (a no-op once everything is there).
system: | $(STAMPS)
	@bash scripts/install-system.sh

$(STAMPS)/venv: pyproject.toml | $(STAMPS)
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: system $(STAMPS)/venv

$(STAMPS)/assets: package.json package-lock.json | $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p var/vendor/ol var/vendor/leaflet var/vendor/maplibre-gl var/vendor/echarts var/vendor/terra-draw
	cp node_modules/ol/dist/ol.js node_modules/ol/ol.css var/vendor/ol/
	cp -r node_modules/leaflet/dist/. var/vendor/leaflet/
	cp node_modules/maplibre-gl/dist/maplibre-gl.js node_modules/maplibre-gl/dist/maplibre-gl.css var/vendor/maplibre-gl/
	cp node_modules/echarts/dist/echarts.min.js var/vendor/echarts/
	cp node_modules/terra-draw/dist/terra-draw.umd.js \
		node_modules/terra-draw-maplibre-gl-adapter/dist/terra-draw-maplibre-gl-adapter.umd.js var/vendor/terra-draw/
	@touch $@

assets: system $(STAMPS)/assets

# Starts PostgreSQL if it is down and creates the role and database (quick when they exist).
db: system
	@bash scripts/ensure-db.sh $(DB_ROLE) $(DB_PASSWORD) $(DB_NAME)

messages: venv
	@$(PY) manage.py compilemessages -v 0 --ignore '.venv/*' --ignore 'node_modules/*'

migrate: venv db
	$(PY) manage.py migrate --noinput -v 0

demo: migrate
	$(PY) manage.py load_demo_boundaries
	$(PY) manage.py load_demo_users
	$(PY) manage.py load_demo_residents
	$(PY) manage.py load_demo_incidents
	$(PY) manage.py layers_sync
	$(PY) manage.py refresh_kpis
	$(PY) manage.py analyze

setup: venv assets db messages migrate demo
	$(PY) manage.py collectstatic --noinput -v 0

# One process with threads: without REDIS_URL the cache (tile versions, scopes, revoked tokens) lives in
# the process, so several processes would disagree. The access log leaves out query strings, which
# may carry residents' names, ID and phone numbers.
run: setup
	@echo "GeoGrid serves the demo city on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	@$(PY) manage.py load_demo_users | tail -n +1
	@# The periodic jobs (deadlines) run beside the web server and stop with it.
	$(PY) manage.py run_periodic > var/periodic.log 2>&1 & echo $$! > var/periodic.pid; \
	trap 'kill $$(cat var/periodic.pid) 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn geogrid.wsgi --bind $(HOST):$(PORT) --workers 1 --threads 8 --worker-class gthread \
		--access-logfile - --access-logformat '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms' --forwarded-allow-ips=127.0.0.1

# A Celery worker taking background tasks from REDIS_URL (start one per machine; README "Background work").
.PHONY: worker
worker: venv
	@[ -n "$$REDIS_URL" ] || { echo "Set REDIS_URL (redis://host:6379/0): without it tasks run in-process."; exit 2; }
	$(VENV)/bin/celery -A geogrid worker --loglevel INFO --concurrency $(or $(WORKER_CONCURRENCY),2)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: venv db assets messages
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run -v 1

test: lint check
	DJANGO_SETTINGS_MODULE=geogrid.settings.test $(PY) -m pytest $(PYTEST_ARGS)

BENCH_DB ?= geogrid_bench
bench: venv db
	@bash scripts/ensure-db.sh $(DB_ROLE) $(DB_PASSWORD) $(BENCH_DB)
	DATABASE_URL=postgis://$(DB_ROLE):$(DB_PASSWORD)@127.0.0.1:5432/$(BENCH_DB) $(PY) -m benchmarks $(BENCH_ARGS)

# Drops the benchmark database (its data is rebuilt by the next `make bench`).
bench-reset: db
	@runuser -u postgres -- dropdb --if-exists $(BENCH_DB) 2>/dev/null || sudo -u postgres dropdb --if-exists $(BENCH_DB)

# Backups (README, "Backups"): a pg_dump of the database and the uploaded files in a new directory under
# var/backups/ (or BACKUP=dir); `make restore BACKUP=dir` puts them back, keeping what it replaces aside.
.PHONY: backup restore
backup: venv db
	$(PY) manage.py backup $(if $(BACKUP),--output "$(BACKUP)")

ifneq ($(filter restore,$(MAKECMDGOALS)),)
ifeq ($(strip $(BACKUP)),)
$(error make restore needs the backup to restore: make restore BACKUP=var/backups/geogrid-<time>)
endif
endif
restore: venv db
	$(PY) manage.py restore "$(BACKUP)"

# The load test, not part of `make test` (README, "Load test"): the demo city in its own database, served by gunicorn
# with the production settings and driven by locust. LOADTEST_USERS, LOADTEST_DURATION, LOADTEST_WORKERS... override.
.PHONY: loadtest
loadtest:
	@bash loadtest/run.sh
