"""The inbound pipeline: signatures, replays, idempotency, the commands, concatenated and unreadable messages."""

import logging
import time

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from core.crypto import blind_index
from core.scope import Scope
from incidents.models import Category, Incident, Source
from incidents.services import incident_create
from messaging.models import Message, OptOut
from tests.messaging.conftest import signed_post

pytestmark = pytest.mark.django_db

RESIDENT_PHONE = "13812345678"  # 张桂英, west street (population fixture)
STRANGER_PHONE = "13600009999"


def sms(text, *, id="m1", phone=RESIDENT_PHONE, **extra):
    return {"id": id, "from": phone, "text": text, **extra}


def test_good_signature_is_accepted(population, gateway):
    response = gateway(sms("路灯坏了"))
    assert response.status_code == 200
    assert response.json()["state"] == "handled"


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"signature": "0" * 64}, "bad_signature"),
        ({"secret": "wrong"}, "bad_signature"),
        ({"signature": ""}, "unsigned"),
    ],
)
def test_bad_or_missing_signature_is_refused(client, kwargs, code):
    response = signed_post(client, "/sms/inbound/", sms("路灯坏了"), **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert not Message.objects.exists()


def test_unsigned_request_without_headers_is_refused(client):
    response = client.post("/sms/inbound/", data=sms("x"), content_type="application/json")
    assert response.status_code == 401


def test_old_timestamp_is_refused_as_replay(client):
    response = signed_post(client, "/sms/inbound/", sms("路灯坏了"), timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale"
    assert not Message.objects.exists()


def test_same_provider_id_twice_creates_nothing_new_and_answers_the_same(population, gateway, outbox):
    first = gateway(sms("小区门口垃圾堆积"))
    second = gateway(sms("小区门口垃圾堆积"))
    assert first.json()["reply"] == second.json()["reply"]
    assert second.json()["duplicate"] is True
    assert Incident.objects.filter(source=Source.SMS).count() == 1
    assert Message.objects.filter(direction="in").count() == 1
    assert len(outbox()) == 1


def test_new_appeal_becomes_an_sms_incident_with_its_number(population, gateway, outbox):
    body = gateway(sms("楼下井盖丢失，很危险")).json()
    incident = Incident.objects.get(source=Source.SMS)
    assert body["case"] == incident.number
    assert incident.number in body["reply"] and "诉求" in body["reply"]
    assert incident.reporter_resident.name == "张桂英"
    assert incident.reporter_phone == RESIDENT_PHONE
    assert incident.unit_code == "110101001001001"  # the resident's household
    assert "核实" in incident.address  # flagged: the dispatcher checks category and location
    assert incident.category.code == "E0699"  # other, to be classified
    assert outbox()[0]["to"] == RESIDENT_PHONE and incident.number in outbox()[0]["text"]


def test_appeal_from_unknown_number_lands_on_the_city_point(small_city, gateway):
    gateway(sms("公园长椅坏了", phone=STRANGER_PHONE))
    incident = Incident.objects.get(source=Source.SMS)
    assert incident.reporter_resident is None
    assert incident.reporter_phone == STRANGER_PHONE


def _incident_reported_by(phone, status="reported"):
    incident = incident_create(
        scope=Scope.everything(),
        actor=None,
        title="噪声",
        description="夜间施工噪声",
        category=Category.objects.get(code="E0601"),
        location=Point(116.385, 39.905, srid=4326),
        source=Source.HOTLINE,
        reporter_phone=phone,
    )
    Incident.objects.filter(pk=incident.pk).update(status=status)
    return incident


@pytest.mark.parametrize("command", ["CX {}", "cx {}", "查询 {}", "查询{}"])
def test_status_query_answers_the_status_to_the_reporter(small_city, gateway, command):
    incident = _incident_reported_by(STRANGER_PHONE, status="accepted")
    number = incident.number.lstrip("0")
    body = gateway(sms(command.format(number), phone=STRANGER_PHONE)).json()
    assert body["reply"] == f"您的诉求 {incident.number} 当前状态：已受理"
    assert not Incident.objects.filter(source=Source.SMS).exists()


def test_status_query_from_another_phone_is_not_found(small_city, gateway):
    incident = _incident_reported_by(STRANGER_PHONE)
    body = gateway(sms(f"CX {incident.number}", phone="13911112222")).json()
    assert "已受理" not in body["reply"] and "未找到" in body["reply"]
    assert Message.objects.get(direction="in").incident is None


@pytest.mark.parametrize("command", ["TD", "td", "退订"])
def test_opt_out_is_recorded_and_confirmed(small_city, gateway, command):
    body = gateway(sms(command, phone=STRANGER_PHONE)).json()
    assert "退订" in body["reply"]
    assert OptOut.objects.filter(phone_index=blind_index(STRANGER_PHONE)).exists()
    assert not Incident.objects.exists()


def test_multipart_message_is_joined_before_handling(population, gateway):
    parts = ["小区东门的路灯", "已经坏了一个星期，", "晚上很黑。"]
    answers = [
        gateway(sms(text, id=f"p{index}", ref="77", parts=3, part=index)).json()
        for index, text in [(1, parts[0]), (3, parts[2]), (2, parts[1])]
    ]
    assert answers[0]["reply"] is None and answers[0]["state"] == "partial"
    assert answers[1]["reply"] is None
    assert answers[2]["case"] is not None
    incident = Incident.objects.get(source=Source.SMS)
    assert incident.description == "".join(parts)
    assert Message.objects.filter(direction="in", incident=incident).count() == 3


def test_udh_fields_are_understood(population, gateway):
    gateway(sms("第一段", id="u1", udh={"ref": 5, "total": 2, "index": 1}))
    body = gateway(sms("第二段", id="u2", udh={"ref": 5, "total": 2, "index": 2})).json()
    assert Incident.objects.get(number=body["case"]).description == "第一段第二段"


def test_ucs2_hex_body_is_decoded(population, gateway):
    body = gateway(
        {"id": "h1", "from": RESIDENT_PHONE, "data": "路灯坏了".encode("utf-16-be").hex(), "encoding": "ucs2"}
    )
    assert Incident.objects.get(number=body.json()["case"]).description == "路灯坏了"


@pytest.mark.parametrize("payload", [{"text": "   "}, {"text": ""}])
def test_empty_body_gets_a_clear_answer(small_city, gateway, payload):
    body = gateway({"id": "e1", "from": STRANGER_PHONE, **payload}).json()
    assert "内容为空" in body["reply"]
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [{"text": "x", "encoding": "klingon"}, {"data": "d800", "encoding": "ucs2"}, {"data": "zz", "encoding": "utf-8"}],
)
def test_unreadable_encoding_gets_a_clear_answer(small_city, gateway, payload):
    body = gateway({"id": "b1", "from": STRANGER_PHONE, **payload}).json()
    assert "无法识别" in body["reply"]
    assert Message.objects.get(direction="in").state == "rejected"
    assert not Incident.objects.exists()


def test_bad_sender_is_a_400_naming_the_field(small_city, gateway):
    response = gateway({"id": "x1", "from": "abc", "text": "hi"})
    assert response.status_code == 400
    assert "from" in response.json()["error"]["fields"]


def test_phone_is_encrypted_at_rest_and_never_logged(population, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    gateway(sms("路灯坏了"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, text FROM messaging_message")
        rows = cursor.fetchall()
    assert rows and all(RESIDENT_PHONE not in phone for phone, _text in rows)
    assert RESIDENT_PHONE not in caplog.text


def test_without_a_configured_secret_everything_is_refused(client, settings):
    settings.GEOGRID_SMS_SECRET = ""
    response = signed_post(client, "/sms/inbound/", sms("路灯坏了"), secret="")
    assert response.status_code == 503
    assert not Message.objects.exists()


def test_console_backend_logs_the_number_masked(settings, caplog):
    from messaging.backends import ConsoleBackend, Outgoing

    caplog.set_level(logging.INFO)
    ConsoleBackend().send(Outgoing(to=RESIDENT_PHONE, text=f"回电 {STRANGER_PHONE}", message_id="1"))
    assert "138****5678" in caplog.text
    assert RESIDENT_PHONE not in caplog.text and STRANGER_PHONE not in caplog.text
