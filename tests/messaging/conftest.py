"""SMS test helpers: gateway settings, signed posts as a gateway sends them, and the file backend's outbox."""

import json
import time

import pytest

from messaging.services import signature_compute

SECRET = "test-gateway-secret"


@pytest.fixture(autouse=True)
def sms_settings(settings, tmp_path):
    settings.GEOGRID_SMS_SECRET = SECRET
    settings.GEOGRID_SMS_BACKEND = "messaging.backends.FileBackend"
    settings.GEOGRID_SMS_FILE_PATH = str(tmp_path / "sms")
    settings.GEOGRID_SMS_RETRY_BACKOFF = 0
    settings.GEOGRID_SMS_LANGUAGE = "zh-hans"
    return settings


@pytest.fixture
def outbox(sms_settings):
    """outbox() -> the messages the file backend wrote, in order."""

    def read():
        path = sms_settings.GEOGRID_SMS_FILE_PATH + "/sms.jsonl"
        try:
            with open(path, encoding="utf-8") as stream:
                return [json.loads(line) for line in stream]
        except FileNotFoundError:
            return []

    return read


def signed_post(client, path, payload, *, timestamp=None, secret=SECRET, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"HTTP_X_SMS_TIMESTAMP": timestamp}
    headers["HTTP_X_SMS_SIGNATURE"] = (
        signature if signature is not None else signature_compute(timestamp=timestamp, body=body, secret=secret)
    )
    return client.post(path, data=body, content_type="application/json", **headers)


@pytest.fixture
def gateway(client, django_capture_on_commit_callbacks):
    """gateway(payload, **kw): a signed inbound post; replies queued by it are handed to the backend."""

    def post(payload, path="/sms/inbound/", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return signed_post(client, path, payload, **kwargs)

    return post
