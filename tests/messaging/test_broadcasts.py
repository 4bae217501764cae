"""Broadcasts (targeting, approval, opt-out, throttling) and the staff API's scope and masking."""

import pytest

from core.crypto import blind_index
from messaging import services
from messaging.models import Broadcast, Message, OptOut
from residents.models import AttentionTag, Resident
from tests.conftest import client_of

pytestmark = pytest.mark.django_db

WEST_ELDER = "13812345678"  # 张桂英, west street, elderly_alone
EAST_PHONE = "13700002222"  # 赵敏, east street


@pytest.fixture
def elders(population):
    """The east street's 赵敏 is tagged elderly_alone too, so the tag alone reaches both streets."""
    Resident.objects.get(name="赵敏").tags.add(AttentionTag.objects.get(code="elderly_alone"))
    return population


@pytest.fixture
def leader(small_city, make_user):
    return client_of(make_user("city_leader", units=["110100"], username="leader"))


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def _draft(api, unit_code="110100", tag="elderly_alone"):
    payload = {"text": "今晚降温，请注意保暖。", "tag": tag, "unit_code": unit_code}
    response = api.post("/sms/api/broadcasts/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    "unit_code, count", [("110100", 2), ("110101001", 1), ("110101002001", 1), ("110101001002", 0)]
)
def test_preview_counts_recipients_by_tag_and_unit_subtree(elders, leader, unit_code, count):
    response = leader.get("/sms/api/broadcasts/preview/", {"tag": "elderly_alone", "unit_code": unit_code})
    assert response.json()["recipient_count"] == count
    assert _draft(leader, unit_code)["recipient_count"] == count


def test_broadcast_needs_approval_before_sending(elders, leader, client_for, run_tasks, outbox):
    dispatcher = client_for("dispatcher", ["110101001"])
    broadcast = _draft(dispatcher, unit_code="110101001")
    send = f"/sms/api/broadcasts/{broadcast['id']}/send/"
    assert run_tasks(lambda: dispatcher.post(send)).status_code == 409
    assert dispatcher.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/").status_code == 403
    assert outbox() == []
    approved = leader.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/")
    assert approved.json()["state"] == "approved" and approved.json()["approved_by"] == "leader"
    assert run_tasks(lambda: dispatcher.post(send)).status_code == 202
    assert dispatcher.get(f"/sms/api/broadcasts/{broadcast['id']}/").json()["state"] == "done"
    assert [sms["to"] for sms in outbox()] == [WEST_ELDER]
    assert run_tasks(lambda: dispatcher.post(send)).status_code == 409  # sent once


def test_viewer_may_not_draft(elders, client_for):
    viewer = client_for("viewer", ["110100"])
    response = viewer.post(
        "/sms/api/broadcasts/", {"text": "x", "tag": "elderly_alone", "unit_code": "110100"}, format="json"
    )
    assert response.status_code == 403
    preview = viewer.get("/sms/api/broadcasts/preview/", {"tag": "elderly_alone", "unit_code": "110100"})
    assert preview.status_code == 403


def test_draft_outside_jurisdiction_is_refused(elders, client_for):
    west = client_for("street_leader", ["110101001"])
    response = west.post(
        "/sms/api/broadcasts/", {"text": "x", "tag": "elderly_alone", "unit_code": "110101002"}, format="json"
    )
    assert response.status_code == 400 and "unit_code" in response.json()["error"]["fields"]


def test_opt_out_is_honoured_even_after_approval(elders, leader, run_tasks, outbox):
    broadcast = _draft(leader)
    leader.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/")
    OptOut.objects.create(phone_index=blind_index(EAST_PHONE))
    run_tasks(lambda: leader.post(f"/sms/api/broadcasts/{broadcast['id']}/send/"))
    done = leader.get(f"/sms/api/broadcasts/{broadcast['id']}/").json()
    assert (done["sent_count"], done["opted_out_count"]) == (1, 1)
    assert [sms["to"] for sms in outbox()] == [WEST_ELDER]
    preview = leader.get("/sms/api/broadcasts/preview/", {"tag": "elderly_alone", "unit_code": "110100"}).json()
    assert (preview["recipient_count"], preview["opted_out"]) == (1, 1)


def test_sending_is_throttled(elders, leader, settings, monkeypatch, run_tasks):
    settings.GEOGRID_SMS_BROADCAST_RATE = 4
    waits = []
    monkeypatch.setattr(services, "_sleep", waits.append)
    broadcast = _draft(leader)
    leader.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/")
    run_tasks(lambda: leader.post(f"/sms/api/broadcasts/{broadcast['id']}/send/"))
    assert waits == [0.25]  # two recipients: one pause between them


def test_delivery_reports_per_recipient(elders, leader, run_tasks, client):
    from tests.messaging.conftest import signed_post

    broadcast = _draft(leader)
    leader.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/")
    run_tasks(lambda: leader.post(f"/sms/api/broadcasts/{broadcast['id']}/send/"))
    first = Message.objects.filter(broadcast_id=broadcast["id"]).order_by("id").first()
    signed_post(client, "/sms/status/", {"id": first.provider_id, "status": "delivered"})
    rows = leader.get("/sms/api/messages/", {"broadcast": broadcast["id"]}).json()["results"]
    assert sorted(row["state"] for row in rows) == ["delivered", "sent"]


def test_message_log_is_scoped_and_masked(elders, client_for, gateway):
    gateway({"id": "w1", "from": WEST_ELDER, "text": "西边路灯坏了"})
    gateway({"id": "e1", "from": EAST_PHONE, "text": "东边井盖丢了"})
    west_viewer = client_for("viewer", ["110101001"])
    body = west_viewer.get("/sms/api/messages/").json()
    assert body["count"] == 2  # the west resident's appeal and its reply
    assert {row["phone"] for row in body["results"]} == {"138****5678"}
    assert WEST_ELDER not in str(body) and EAST_PHONE not in str(body)
    assert all(row["unit_code"].startswith("110101001") for row in body["results"])
    assert client_for("viewer", ["110100"]).get("/sms/api/messages/").json()["count"] == 4


def test_broadcasts_outside_scope_are_404(elders, leader, client_for):
    broadcast = _draft(leader, unit_code="110101002")
    west = client_for("street_leader", ["110101001"])
    assert west.get(f"/sms/api/broadcasts/{broadcast['id']}/").status_code == 404
    assert west.post(f"/sms/api/broadcasts/{broadcast['id']}/approve/").status_code == 404
    assert west.get("/sms/api/broadcasts/").json()["count"] == 0
    assert Broadcast.objects.count() == 1
