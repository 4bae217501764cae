"""The database lost mid-request: which errors become a 503 the client may retry, in what shape and language."""

import psycopg
import pytest
from django.db import DataError, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.test import RequestFactory
from rest_framework.test import APIClient

from core.db import fetch_value
from core.errors import database_unavailable, json_server_error
from core.middleware import discard_broken_connections
from tests.conftest import client_of


def lost(cause: psycopg.Error) -> OperationalError:
    """What Django raises when psycopg does: its own class, the driver's error as the cause."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


ADMIN_SHUTDOWN = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
CONNECTION_LOST = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
DEADLOCK = psycopg.errors.DeadlockDetected("deadlock detected")


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (lost(ADMIN_SHUTDOWN), True),
        (lost(CONNECTION_LOST), True),
        (lost(psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (lost(psycopg.errors.TooManyConnections("too many clients")), True),
        (InterfaceError("connection already closed"), True),
        (CONNECTION_LOST, True),
        (lost(DEADLOCK), False),  # a real failure of this request: retrying blindly is not the answer
        (lost(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")), False),
        (ValueError("not a database error"), False),
        (None, False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(exc, unavailable):
    assert database_unavailable(exc) is unavailable


@pytest.fixture
def failing_list(monkeypatch):
    """fail_with(exc): the incident list raises `exc` from its query, as a lost connection would."""
    from incidents import selectors

    def fail_with(exc):
        def raising(**kwargs):
            raise exc

        monkeypatch.setattr(selectors, "incident_list", raising)

    return fail_with


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"), [("en", "The database cannot be reached"), ("zh-hans", "暂时无法连接数据库")]
)
def test_a_view_losing_the_database_answers_503_in_the_error_shape(
    small_city, make_user, failing_list, language, message
):
    client = client_of(make_user("viewer", units=["110100"]))
    failing_list(lost(ADMIN_SHUTDOWN))
    response = client.get("/api/v1/incidents/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "database_unavailable"
    assert body["error"]["message"].startswith(message) and body["error"]["fields"] == {}


@pytest.mark.django_db
def test_other_database_errors_stay_server_errors(small_city, make_user, failing_list):
    user = make_user("viewer", units=["110100"])
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    failing_list(lost(DEADLOCK))
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"
    assert "Retry-After" not in response


def test_an_error_outside_any_view_is_a_503_too():
    # handler500 runs while the exception raised by a middleware (session, authentication) is handled.
    request = RequestFactory().get("/api/v1/incidents/")
    try:
        raise lost(CONNECTION_LOST)
    except OperationalError:
        response = json_server_error(request)
    assert response.status_code == 503 and response["Retry-After"]
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = json_server_error(request)
    assert response.status_code == 500


def _terminate(pid: int) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_discarded_and_the_next_query_reconnects():
    pid = _pid()
    _terminate(pid)
    with pytest.raises(OperationalError) as error, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert database_unavailable(error.value)

    discard_broken_connections()

    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@pytest.mark.django_db(transaction=True)
def test_a_read_skips_the_health_check_and_runs_again_on_a_new_connection_when_the_old_one_died(monkeypatch):
    checks = []
    is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or is_usable())

    pid = _pid()
    close_old_connections()  # what starts a request: the next query would check the connection first
    assert fetch_value("SELECT pg_backend_pid()", []) == pid
    assert checks == []  # no `SELECT 1` before the statement

    _terminate(pid)
    close_old_connections()
    assert fetch_value("SELECT pg_backend_pid()", []) != pid  # failed once, then ran on a new connection
    assert len(checks) == 1  # the failure was confirmed as a dead link before running it again


@pytest.mark.django_db(transaction=True)
def test_a_statements_own_error_is_not_run_again(monkeypatch):
    runs = []
    execute_wrapper = connection.execute_wrapper(lambda execute, sql, *args: runs.append(sql) or execute(sql, *args))
    close_old_connections()
    with execute_wrapper, pytest.raises(DataError):
        fetch_value("SELECT 1 / %s", [0])
    assert len(runs) == 1
    assert fetch_value("SELECT 2", []) == 2


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_dead_connection_is_not_hidden():
    with pytest.raises(OperationalError), transaction.atomic():
        _terminate(_pid())
        fetch_value("SELECT 1", [])
    discard_broken_connections()
    assert fetch_value("SELECT 1", []) == 1
