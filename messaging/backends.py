"""SMS gateway backends, chosen by GEOGRID_SMS_BACKEND as Django chooses its email backend."""

from __future__ import annotations

import json
import logging
import string
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from core.personal import mask_phone, scrub

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """What a backend sends: the number, the text, and our own message id (for the provider's reports)."""

    to: str
    text: str
    message_id: str


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str = "sent"


class GatewayError(Exception):
    """The gateway refused or could not be reached; `retry` says whether trying again may help."""

    def __init__(self, reason: str, *, retry: bool = True):
        super().__init__(reason)
        self.retry = retry


class BaseBackend:
    def send(self, outgoing: Outgoing) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Development: the message goes to the log, the number masked."""

    def send(self, outgoing: Outgoing) -> SendResult:
        logger.info("SMS to %s: %s", mask_phone(outgoing.to), scrub(outgoing.text))
        return SendResult(provider_id=f"console-{outgoing.message_id}")


class FileBackend(BaseBackend):
    """Tests: one JSON line per message in GEOGRID_SMS_FILE_PATH/sms.jsonl."""

    def send(self, outgoing: Outgoing) -> SendResult:
        directory = Path(getattr(settings, "GEOGRID_SMS_FILE_PATH", "var/sms"))
        directory.mkdir(parents=True, exist_ok=True)
        record = {"to": outgoing.to, "text": outgoing.text, "id": outgoing.message_id, "at": timezone.now().isoformat()}
        with (directory / "sms.jsonl").open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        return SendResult(provider_id=f"file-{outgoing.message_id}")


def _fill(template, values: dict):
    """The request template with $to / $text / $id replaced inside every string (JSON-safe)."""
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values) for value in template]
    if isinstance(template, str):
        return string.Template(template).safe_substitute(values)
    return template


def json_path(document, path: str):
    """The value at a dotted path ("data.0.msgid") of a decoded JSON document, or None."""
    value = document
    for step in (path or "").split("."):
        if not step:
            continue
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return None
    return value


class HttpBackend(BaseBackend):
    """
    A provider's HTTP API: a JSON POST built from GEOGRID_SMS_HTTP_TEMPLATE to GEOGRID_SMS_HTTP_URL,
    with an optional authorisation header; the provider's message id and status are read from the
    answer by dotted JSON paths. Network errors and 5xx/429 answers may be retried, other 4xx not.
    """

    def send(self, outgoing: Outgoing) -> SendResult:
        url = getattr(settings, "GEOGRID_SMS_HTTP_URL", "")
        if not url:
            raise GatewayError("GEOGRID_SMS_HTTP_URL is not set", retry=False)
        if not url.startswith(("http://", "https://")):
            raise GatewayError("GEOGRID_SMS_HTTP_URL must be an http(s) URL", retry=False)
        template = getattr(settings, "GEOGRID_SMS_HTTP_TEMPLATE", {"to": "$to", "text": "$text", "id": "$id"})
        body = json.dumps(
            _fill(template, {"to": outgoing.to, "text": outgoing.text, "id": outgoing.message_id}), ensure_ascii=False
        ).encode()
        request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - scheme checked above
        request.add_header("Content-Type", "application/json; charset=utf-8")
        header = getattr(settings, "GEOGRID_SMS_HTTP_AUTH_HEADER", "")
        if header:
            name, _sep, value = header.partition(":")
            request.add_header(name.strip(), value.strip())
        timeout = getattr(settings, "GEOGRID_SMS_HTTP_TIMEOUT", 10)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"HTTP {exc.code}", retry=exc.code >= 500 or exc.code == 429) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GatewayError(f"unreachable: {type(exc).__name__}") from None
        except ValueError:
            raise GatewayError("the answer is not JSON") from None
        provider_id = json_path(answer, getattr(settings, "GEOGRID_SMS_HTTP_ID_PATH", "id"))
        status = json_path(answer, getattr(settings, "GEOGRID_SMS_HTTP_STATUS_PATH", "status"))
        failed = getattr(settings, "GEOGRID_SMS_HTTP_FAILED_STATUSES", ["failed", "rejected", "error"])
        if status is not None and str(status).lower() in failed:
            raise GatewayError(f"provider status {status}", retry=False)
        if not provider_id:
            raise GatewayError("the answer holds no message id")
        return SendResult(provider_id=str(provider_id), status=str(status or "sent"))


def backend_get() -> BaseBackend:
    path = getattr(settings, "GEOGRID_SMS_BACKEND", "messaging.backends.ConsoleBackend")
    return import_string(path)()
