"""Settings come from the environment; production refuses to start without a real secret key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_settings(module: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "DEBUG"}}
    environment.update(env)
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps({'debug': settings.DEBUG, 'db': settings.DATABASES['default']['NAME'], "
        "'host': settings.DATABASES['default']['HOST'], 'hosts': settings.ALLOWED_HOSTS}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": module},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_defaults_need_nothing_set():
    result = run_settings("geogrid.settings.base")
    assert result.returncode == 0, result.stderr
    assert '"debug": true' in result.stdout and '"db": "geogrid"' in result.stdout


def test_environment_overrides_the_defaults():
    result = run_settings(
        "geogrid.settings.base",
        DATABASE_URL="postgis://someone:secret@db.example:5433/cityx",
        DEBUG="false",
        ALLOWED_HOSTS="grid.example,www.grid.example",
    )
    assert result.returncode == 0, result.stderr
    assert '"db": "cityx"' in result.stdout and '"host": "db.example"' in result.stdout
    assert '"debug": false' in result.stdout and "www.grid.example" in result.stdout


@pytest.mark.parametrize(("value", "ok"), [("gcj02", True), ("bd09", True), ("GCJ-02", False), ("mars", False)])
def test_the_input_datum_is_checked(value, ok):
    result = run_settings("geogrid.settings.base", GEOGRID_INPUT_CRS=value)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "GEOGRID_INPUT_CRS must be wgs84, gcj02 or bd09" in result.stderr


@pytest.mark.parametrize("secret", [None, "short", "django-insecure-geogrid-development-key-do-not-use-in-production"])
def test_production_refuses_a_missing_or_weak_secret_key(secret):
    env = {} if secret is None else {"SECRET_KEY": secret}
    result = run_settings("geogrid.settings.production", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 20 + "9f3a1c5e7b2d4f6a8c0e1b3d5f7a9c2e4g6h",
    "GEOGRID_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "GEOGRID_BLIND_INDEX_KEY": "blind-index-key-for-tests-0123456789",
    "ALLOWED_HOSTS": "grid.example",
}


def test_production_starts_with_a_real_secret_key_and_personal_data_keys():
    result = run_settings("geogrid.settings.production", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert '"debug": false' in result.stdout


def test_production_refuses_to_start_without_personal_data_keys():
    env = {**PRODUCTION_ENV, "GEOGRID_FIELD_ENCRYPTION_KEYS": ""}
    result = run_settings("geogrid.settings.production", **env)
    assert result.returncode != 0
    assert "GEOGRID_FIELD_ENCRYPTION_KEYS" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**environment, **PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "geogrid.settings.production"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_large_lists_answer_an_estimated_count(db, settings):
    from django.contrib.auth.models import Permission

    from core.pagination import CountingPaginator, estimated_count

    everything = Permission.objects.all()
    exact = everything.count()
    assert estimated_count(everything) > 0
    settings.GEOGRID_EXACT_COUNT_LIMIT = 1_000_000
    paginator = CountingPaginator(everything.order_by("pk"), 10)
    assert paginator.count == exact and not paginator.estimated
    settings.GEOGRID_EXACT_COUNT_LIMIT = 5
    paginator = CountingPaginator(everything.order_by("pk"), 10)
    assert paginator.count == max(estimated_count(everything), 6) and paginator.estimated


def test_pages_past_an_estimate_that_fell_short_are_served(db, settings, monkeypatch):
    from django.contrib.auth.models import Permission
    from django.core.paginator import EmptyPage

    from core import pagination

    everything = Permission.objects.order_by("pk")
    pks = list(everything.values_list("pk", flat=True))
    assert len(pks) > 30
    settings.GEOGRID_EXACT_COUNT_LIMIT = 5
    # Statistics taken before a bulk load: the planner believes the match is a few rows.
    monkeypatch.setattr(pagination, "estimated_count", lambda queryset: 6)
    paginator = pagination.CountingPaginator(everything, 10)
    assert paginator.count == 6 and paginator.estimated and paginator.num_pages == 1
    second = paginator.page(2)
    assert [p.pk for p in second] == pks[10:20] and second.has_next()
    last_number = (len(pks) + 9) // 10
    last = paginator.page(last_number)
    assert [p.pk for p in last] == pks[(last_number - 1) * 10 :] and not last.has_next()
    with pytest.raises(EmptyPage):
        paginator.page(last_number + 1)
