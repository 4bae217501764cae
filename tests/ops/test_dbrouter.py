"""The replica router: where a read goes, and how a caller who wrote is pinned to the primary for a while."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from accounts.models import ApiToken, User
from boundaries.models import GridUnit
from geogrid import dbrouter

router = dbrouter.PrimaryReplicaRouter()


@pytest.fixture
def replicas(settings):
    settings.GEOGRID_DATABASE_REPLICAS = ["replica1"]
    settings.GEOGRID_READ_YOUR_WRITES_SECONDS = 10
    settings.DATABASE_ROUTERS = ["geogrid.dbrouter.PrimaryReplicaRouter"]


def serve(request, view=None):
    """Serves request through the middleware; `view(request)` may read and write; returns the response."""

    def respond(request):
        request.reads = view(request) if view else None
        return HttpResponse("ok")

    return dbrouter.ReadYourWritesMiddleware(respond)(request)


def get(user=None, cookies=None, method="get"):
    request = getattr(RequestFactory(), method)("/api/v1/units/")
    request.user = user if user is not None else AnonymousUser()
    request.COOKIES.update(cookies or {})
    return request


def test_outside_a_web_request_everything_is_on_the_primary(replicas):
    assert router.db_for_read(GridUnit) == "default"
    assert router.db_for_write(GridUnit) == "default"


def test_a_safe_request_reads_from_a_replica_and_pins_nobody(replicas):
    request = get()
    response = serve(request, lambda r: [router.db_for_read(GridUnit), GridUnit.objects.all().db])
    assert request.reads == ["replica1", "replica1"]
    assert dbrouter.PIN_COOKIE not in response.cookies


def test_who_the_caller_is_and_locked_rows_are_read_on_the_primary(replicas):
    request = get()
    serve(
        request,
        lambda r: [
            router.db_for_read(ApiToken),
            router.db_for_read(User),
            GridUnit.objects.select_for_update().db,
        ],
    )
    assert request.reads == ["default", "default", "default"]


def test_a_transaction_reads_on_the_primary(replicas, monkeypatch):
    def view(request):
        monkeypatch.setattr(connections["default"], "in_atomic_block", True)
        return router.db_for_read(GridUnit)

    request = get()
    serve(request, view)
    assert request.reads == "default"


def test_a_write_request_reads_on_the_primary_and_pins_the_caller_by_cookie(replicas):
    request = get(method="post")
    response = serve(request, lambda r: router.db_for_read(GridUnit))
    assert request.reads == "default"
    cookie = response.cookies[dbrouter.PIN_COOKIE]
    assert cookie["max-age"] == 10 and cookie["httponly"]

    pinned = get(cookies={dbrouter.PIN_COOKIE: cookie.value})
    serve(pinned, lambda r: router.db_for_read(GridUnit))
    assert pinned.reads == "default"
    forged = get(cookies={dbrouter.PIN_COOKIE: "1"})
    serve(forged, lambda r: router.db_for_read(GridUnit))
    assert forged.reads == "replica1"


def test_a_write_inside_a_get_pins_the_signed_in_user_by_cache(replicas):
    writer, other = User(pk=501, username="writer"), User(pk=502, username="other")

    def view(request):
        before = router.db_for_read(GridUnit)
        router.db_for_write(GridUnit)
        return [before, router.db_for_read(GridUnit)]

    request = get(writer)
    serve(request, view)
    assert request.reads == ["replica1", "default"]

    # A token client keeps no cookie: the pin follows the user, once they are known.
    again = get(writer)
    serve(again, lambda r: router.db_for_read(GridUnit))
    assert again.reads == "default"
    someone_else = get(other)
    serve(someone_else, lambda r: router.db_for_read(GridUnit))
    assert someone_else.reads == "replica1"

    cache.delete(dbrouter._pin_key(writer.pk))
    expired = get(writer)
    serve(expired, lambda r: router.db_for_read(GridUnit))
    assert expired.reads == "replica1"


def test_a_user_not_yet_loaded_is_not_loaded_by_the_router(replicas):
    def load():
        raise AssertionError("the router loaded the user")

    cache.set(dbrouter._pin_key(501), 2**40, 10)
    request = get(SimpleLazyObject(load))
    serve(request, lambda r: router.db_for_read(GridUnit))
    assert request.reads == "replica1"


def test_writes_in_raw_sql_pin_too(replicas):
    def view(request):
        dbrouter.ReadYourWritesMiddleware._watch(lambda *args: None, "SELECT 1", None, False, {})
        before = router.db_for_read(GridUnit)
        dbrouter.ReadYourWritesMiddleware._watch(lambda *args: None, " UPDATE t SET a = 1", None, False, {})
        return [before, router.db_for_read(GridUnit)]

    request = get()
    response = serve(request, view)
    assert request.reads == ["replica1", "default"]
    assert dbrouter.PIN_COOKIE in response.cookies


@pytest.mark.parametrize(
    ("statement", "writes"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("\n  update t set a = 1", True),
        ("DELETE FROM t", True),
        ("COPY t FROM STDIN", True),
        ("TRUNCATE t", True),
        ("SELECT * FROM t FOR UPDATE", False),
        ("SAVEPOINT s1", False),
        ("SET TIME ZONE 'UTC'", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("", False),
    ],
)
def test_statements_that_write(statement, writes):
    assert dbrouter.statement_writes(statement) is writes


def test_migrations_run_only_on_the_primary():
    assert router.allow_migrate("default", "boundaries") is True
    assert router.allow_migrate("replica1", "boundaries") is False


def test_without_replicas_the_middleware_does_nothing(settings):
    settings.GEOGRID_DATABASE_REPLICAS = []
    request = get(method="post")
    response = serve(request, lambda r: router.db_for_read(GridUnit))
    assert request.reads == "default" and dbrouter.PIN_COOKIE not in response.cookies


def test_replicas_come_from_the_environment_and_mirror_the_test_database():
    script = (
        "import json; from geogrid.settings import test as s; "
        "print(json.dumps([s.GEOGRID_DATABASE_REPLICAS, s.DATABASES['replica2'], s.DATABASE_ROUTERS, s.MIDDLEWARE]))"
    )
    env = {**os.environ, "DATABASE_REPLICA_URLS": "postgis://a@db-1:5433/grid,postgis://b@db-2:5434/grid"}
    output = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    aliases, replica, routers, middleware = json.loads(output)
    assert aliases == ["replica1", "replica2"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == ("db-2", 5434, "b")
    assert replica["ENGINE"] == "django.contrib.gis.db.backends.postgis" and replica["TEST"] == {"MIRROR": "default"}
    assert routers == ["geogrid.dbrouter.PrimaryReplicaRouter"]
    assert middleware.index("geogrid.dbrouter.ReadYourWritesMiddleware") < middleware.index(
        "django.contrib.sessions.middleware.SessionMiddleware"
    )
