"""The audit log: every kind of action is recorded with actor, time and address; it is append-only."""

import csv
import io

import pytest
from auditlog.models import LogEntry
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from accounts.models import UnitBinding, User
from accounts.services import audit_event

pytestmark = pytest.mark.django_db
PASSWORD = "Correct-horse-battery-7"


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()


def events(name):
    return LogEntry.objects.filter(additional_data__event=name)


def test_logins_failed_logins_and_logouts(api_client, client, small_city, make_user):
    user = make_user("viewer", units=["110101001"], username="wang", password=PASSWORD)
    api_client.post(
        "/api/v1/auth/login/", {"username": "wang", "password": "bad"}, format="json", REMOTE_ADDR="10.1.2.3"
    )
    failed = events("login_failed").get()
    assert failed.object_repr == "wang" and failed.remote_addr == "10.1.2.3" and failed.actor is None
    assert "bad" not in str(failed.additional_data)  # the password never reaches the log
    api_client.post("/api/v1/auth/login/", {"username": "wang", "password": PASSWORD}, format="json")
    login = events("login").get()
    assert login.actor == user and login.additional_data["via"] == "api"
    client.post("/login/", {"username": "wang", "password": PASSWORD})
    client.post("/logout/")
    assert events("login").filter(additional_data__via="web").count() == 1
    assert events("logout").get().actor == user


def test_creates_and_updates_record_who_and_what(admin_api, small_city):
    response = admin_api.post(
        "/api/v1/users/",
        {
            "username": "worker1",
            "password": "Quite-long-passw0rd",
            "roles": ["grid_worker"],
            "units": ["110101001001001"],
            "full_name": "赵一",
            "phone": "13812345678",
        },
        format="json",
        REMOTE_ADDR="10.9.8.7",
    )
    assert response.status_code == 201, response.content
    worker = User.objects.get(username="worker1")
    created = LogEntry.objects.get_for_object(worker).get(action=LogEntry.Action.CREATE)
    assert created.actor == admin_api.user and created.remote_addr == "10.9.8.7"
    assert created.changes["username"] == ["None", "worker1"]
    assert "phone" not in created.changes and "13812345678" not in str(created.changes)
    binding = UnitBinding.objects.get(user=worker)
    assert LogEntry.objects.get_for_object(binding).get().actor == admin_api.user

    worker.first_name = "赵二"
    worker.save()
    update = LogEntry.objects.get_for_object(worker).get(action=LogEntry.Action.UPDATE, changes__has_key="first_name")
    assert update.changes["first_name"] == ["赵一", "赵二"]  # before and after


def test_deletes_are_recorded(small_city, make_user):
    user = make_user("viewer", units=["110101001"])
    binding = UnitBinding.objects.get(user=user)
    binding_pk = binding.pk
    binding.delete()
    assert LogEntry.objects.filter(object_pk=str(binding_pk), action=LogEntry.Action.DELETE).exists()


def test_the_audit_log_is_append_only(small_city, make_user):
    make_user("viewer", units=["110101001"])
    entry = LogEntry.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(object_repr="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM auditlog_logentry")
    # Deleting a user only detaches them from their entries.
    actor = User.objects.create(username="gone")
    audit_event(event="export", actor=actor, target_label="x")
    actor.delete()
    assert events("export").get().actor is None and events("export").get().actor_email is None


def test_administrators_query_and_export_the_log(admin_api, client_for, small_city, make_user):
    worker = make_user("viewer", units=["110101001"], username="viewer-a")
    audit_event(event="export", actor=worker, target_label="households")
    everything = admin_api.get("/api/v1/audit/").json()
    assert everything["count"] >= 3
    only_exports = admin_api.get("/api/v1/audit/", {"action": "export"}).json()["results"]
    assert [(e["actor"], e["object_repr"]) for e in only_exports] == [("viewer-a", "households")]
    by_user = admin_api.get("/api/v1/audit/", {"user": worker.pk}).json()["results"]
    assert {e["actor"] for e in by_user} == {"viewer-a"}
    by_model = admin_api.get("/api/v1/audit/", {"model": "accounts.unitbinding", "action": "create"}).json()
    assert by_model["count"] >= 1 and {e["model"] for e in by_model["results"]} == {"accounts.unitbinding"}
    assert admin_api.get("/api/v1/audit/", {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert admin_api.get("/api/v1/audit/", {"since": "yesterday"}).status_code == 400

    export = admin_api.get("/api/v1/audit/export.csv", {"action": "export"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert [r["object_repr"] for r in rows] == ["households"]
    assert events("export").filter(object_repr="audit log").count() == 1  # the export itself

    leader = client_for("street_leader", units=["110101001"])
    assert leader.get("/api/v1/audit/").status_code == 403
    assert leader.get("/api/v1/audit/export.csv").status_code == 403


def test_phone_numbers_never_reach_the_log_or_its_export(admin_api, small_city, make_user):
    user = make_user("viewer", units=["110101001"], phone="13812345678")
    user.phone = "13900001111"
    user.save()
    export = admin_api.get("/api/v1/audit/export.csv")
    content = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "viewer" in content
    for number in ("13812345678", "13900001111", "138****5678"):
        assert number not in content
