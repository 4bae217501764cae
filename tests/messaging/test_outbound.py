"""Outbound SMS: the HTTP backend against a fake provider, retries, delivery reports, the notification channel."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.gis.geos import Point

from core.scope import Scope
from incidents.models import Category, Notification, Source
from incidents.services import incident_create, incident_transition, notify
from messaging import services
from messaging.channels import SmsChannel
from messaging.models import Message
from tests.messaging.conftest import signed_post

pytestmark = pytest.mark.django_db

PHONE = "13600009999"


class FakeProvider:
    """A provider's HTTP API in a thread: answers each POST with the next scripted (status, body)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                provider.requests.append({"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))})
                status, body = provider.script.pop(0) if provider.script else (200, {"result": {"msgid": "x"}})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_gateway(settings):
    settings.GEOGRID_SMS_BACKEND = "messaging.backends.HttpBackend"
    settings.GEOGRID_SMS_HTTP_AUTH_HEADER = "Authorization: Bearer provider-key"
    settings.GEOGRID_SMS_HTTP_TEMPLATE = {"mobile": "$to", "content": "$text", "ref": "$id", "sign": "GeoGrid"}
    settings.GEOGRID_SMS_HTTP_ID_PATH = "result.msgid"
    settings.GEOGRID_SMS_HTTP_STATUS_PATH = "result.status"
    settings.GEOGRID_SMS_HTTP_TIMEOUT = 2
    settings.GEOGRID_SMS_RETRIES = 2
    return settings


def _queued(text="测试短信"):
    return services.message_queue(phone=PHONE, text=text, kind=Message.Kind.REPLY, deliver_later=False)


def test_http_backend_sends_the_template_and_reads_the_provider_id(http_gateway):
    with FakeProvider([(200, {"result": {"msgid": "P-1", "status": "accepted"}})]) as provider:
        http_gateway.GEOGRID_SMS_HTTP_URL = provider.url
        message = services.message_deliver(message_id=_queued('引号"与\\换行\n').pk)
    assert message.state == "sent" and message.provider_id == "P-1" and message.attempts == 1
    request = provider.requests[0]
    assert request["headers"]["Authorization"] == "Bearer provider-key"
    assert request["body"] == {"mobile": PHONE, "content": '引号"与\\换行\n', "ref": str(message.pk), "sign": "GeoGrid"}


def test_gateway_failures_are_retried_with_backoff_then_succeed(http_gateway, monkeypatch):
    waits = []
    monkeypatch.setattr(services, "_sleep", waits.append)
    http_gateway.GEOGRID_SMS_RETRY_BACKOFF = 1.5
    with FakeProvider([(503, {}), (500, {}), (200, {"result": {"msgid": "P-2"}})]) as provider:
        http_gateway.GEOGRID_SMS_HTTP_URL = provider.url
        message = services.message_deliver(message_id=_queued().pk)
    assert message.state == "sent" and message.attempts == 3 and message.error == ""
    assert waits == [1.5, 3.0]


def test_gateway_failure_after_all_retries_is_recorded(http_gateway):
    with FakeProvider([(503, {})] * 5) as provider:
        http_gateway.GEOGRID_SMS_HTTP_URL = provider.url
        message = services.message_deliver(message_id=_queued().pk)
    assert message.state == "failed" and message.attempts == 3 and message.error == "HTTP 503"
    assert len(provider.requests) == 3


def test_client_error_and_provider_refusal_are_not_retried(http_gateway):
    with FakeProvider([(400, {}), (200, {"result": {"msgid": "P-3", "status": "rejected"}})]) as provider:
        http_gateway.GEOGRID_SMS_HTTP_URL = provider.url
        first = services.message_deliver(message_id=_queued().pk)
        second = services.message_deliver(message_id=_queued().pk)
    assert (first.state, first.attempts, second.state, second.attempts) == ("failed", 1, "failed", 1)
    assert "rejected" in second.error


def test_unreachable_gateway_is_retried_then_failed(http_gateway):
    http_gateway.GEOGRID_SMS_HTTP_URL = "http://127.0.0.1:9/send"
    message = services.message_deliver(message_id=_queued().pk)
    assert message.state == "failed" and message.attempts == 3 and "unreachable" in message.error


def test_delivery_status_callback_updates_the_message(client, outbox):
    message = services.message_deliver(message_id=_queued().pk)
    delivered = signed_post(client, "/sms/status/", {"id": message.provider_id, "status": "DELIVRD"})
    assert delivered.status_code == 200 and delivered.json()["state"] == "delivered"
    message.refresh_from_db()
    assert message.state == "delivered" and message.delivered_at is not None
    failed = signed_post(client, "/sms/status/", {"id": message.provider_id, "status": "UNDELIV"})
    assert failed.json()["state"] == "failed"
    assert signed_post(client, "/sms/status/", {"id": "nope", "status": "DELIVRD"}).status_code == 404
    assert signed_post(client, "/sms/status/", {"id": message.provider_id, "status": "??"}).status_code == 400


def test_delivery_status_callback_must_be_signed(client):
    message = services.message_deliver(message_id=_queued().pk)
    response = signed_post(client, "/sms/status/", {"id": message.provider_id, "status": "DELIVRD"}, secret="bad")
    assert response.status_code == 401
    message.refresh_from_db()
    assert message.state == "sent"


def test_sms_channel_texts_a_reporter_on_status_change(
    small_city, settings, outbox, django_capture_on_commit_callbacks
):
    settings.GEOGRID_NOTIFICATION_CHANNELS = ["incidents.channels.InAppChannel", "messaging.channels.SmsChannel"]
    incident = incident_create(
        scope=Scope.everything(),
        actor=None,
        title="噪声",
        description="夜间施工噪声",
        category=Category.objects.get(code="E0601"),
        location=Point(116.385, 39.905, srid=4326),
        source=Source.SMS,
        reporter_phone=PHONE,
    )
    with django_capture_on_commit_callbacks(execute=True):
        incident_transition(scope=Scope.everything(), actor=None, incident_id=incident.pk, action="accept")
    notification = Notification.objects.get(kind="status")
    assert notification.channels["sms"].startswith("queued:")
    message = Message.objects.get(kind="notification")
    assert message.state == "sent" and message.incident == incident and message.unit_code == incident.unit_code
    assert outbox()[-1]["to"] == PHONE and incident.number in outbox()[-1]["text"]
    assert "已受理" in outbox()[-1]["text"]  # in the residents' language, whatever the staff's


def test_sms_channel_leaves_other_staff_notifications_to_the_app(small_city, make_user):
    user = make_user("dispatcher", units=["110101001"], phone="13911112222")
    (notification,) = notify(kind="supervised", incident=None, recipients=[user], message="x")
    assert SmsChannel().deliver(notification) is None


def test_sms_channel_texts_staff_a_case_dispatched_to_them(
    small_city, make_user, outbox, django_capture_on_commit_callbacks
):
    with_phone = make_user("grid_worker", units=["110101001001"], phone="13911112222")
    without = make_user("grid_worker", units=["110101001001"])
    for user in (with_phone, without):
        (notification,) = notify(
            kind="dispatched", incident=None, recipients=[user], message="案件 10000001 已派遣给您"
        )
        with django_capture_on_commit_callbacks(execute=True):
            state = SmsChannel().deliver(notification)
        assert (state or "").startswith("queued:") is (user == with_phone)
    assert [(m["to"], m["text"]) for m in outbox()] == [("13911112222", "案件 10000001 已派遣给您")]
