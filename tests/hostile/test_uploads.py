"""Every upload door: size limits before anything is read, real types, names never paths, JSON nesting, no fetches."""

from __future__ import annotations

import http.server
import io
import json
import struct
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from PIL import Image

from incidents.models import Attachment, Incident
from messaging.services import signature_compute
from open311.models import Open311Request
from open311.services import client_create
from residents.models import ImportJob
from tests.hostile import corpus
from tests.hostile.conftest import database_state

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture
def worker(client_for, small_city):
    return client_for("grid_worker", units=["110101001001"])


@pytest.fixture
def private_root(settings, tmp_path):
    """Where uploaded imports are kept during the test."""
    settings.GEOGRID_PRIVATE_ROOT = tmp_path / "private"
    return tmp_path / "private"


def attachment_files() -> set[Path]:
    root = Path(Attachment._meta.get_field("file").storage.location)
    return {path for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def spooled(monkeypatch):
    """The uploads Django started to write to temporary files during the test."""
    started = []
    original = TemporaryFileUploadHandler.new_file

    def spy(self, *args, **kwargs):
        started.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", spy)
    return started


def png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


# --- request bodies over the limits: 413 before anything is read ------------------------------------------


def test_a_json_body_over_the_limit_is_413_unread(worker, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = database_state()
    body = json.dumps({"address": "x" * 20_000, "location": {"lon": 116.385, "lat": 39.905}})
    response = worker.post("/api/v1/households/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert database_state() == before


def test_an_anonymous_oversized_body_is_413_before_authentication(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_client.post("/api/v1/auth/login/", data="[" + "0," * 10_000 + "0]", content_type="application/json")
    assert response.status_code == 413


def test_a_multipart_upload_over_the_limit_is_413_before_it_is_spooled(worker, settings, private_root, spooled):
    settings.GEOGRID_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * (600 * 1024))  # 2.4 MB: over the 1 + 1 MB of a form
    before = database_state()
    response = worker.post("/api/v1/imports/households/", {"file": big}, format="multipart")
    assert response.status_code == 413
    assert spooled == [] and not private_root.exists()
    assert database_state() == before


def test_open311_refuses_oversized_multipart_posts(client, small_city, settings, spooled):
    settings.GEOGRID_MAX_UPLOAD_MB = 1
    _client, key = client_create(name="app")
    media = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff" + b"\0" * (3 * MB))
    fields = {"api_key": key, "service_code": "E0401", "lat": "39.905", "long": "116.385", "media": media}
    response = client.post("/open311/v2/requests.json", fields)
    assert response.status_code == 413 and spooled == []
    assert not Incident.objects.exists()


def test_a_content_length_that_is_not_a_number_is_400(client):
    response = client.generic("POST", "/api/v1/auth/login/", b"{}", "application/json", CONTENT_LENGTH="lots")
    assert response.status_code == 400


# --- attachments: real types, decompression bombs, names that are not paths -------------------------------


@pytest.fixture
def reported(worker):
    created = worker.post(
        "/api/v1/incidents/",
        {"description": "占道经营", "category": "E0402", "location": {"lon": 116.385, "lat": 39.905}},
        format="json",
    )
    assert created.status_code == 201, created.content
    return Incident.objects.get(pk=created.json()["id"])


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bomb.png", png_claiming(100_000, 100_000), "not a readable image"),
        ("page.jpg", b"<html><script>alert(1)</script></html>", "not a JPEG"),
        ("script.png", b"\x89PNG\r\n\x1a\n<script>alert(1)</script>", "not a readable image"),
        ("empty.jpg", b"", "empty"),
    ],
)
def test_attachments_are_checked_by_content(worker, reported, name, content, reason):
    before, files = database_state(), attachment_files()
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = worker.post(
        "/api/v1/incidents/",
        {"description": "x", "category": "E0402", "location": "116.385,39.905", "files": [upload]},
        format="multipart",
    )
    assert response.status_code == 400
    assert reason in json.dumps(response.json(), ensure_ascii=False)
    assert Incident.objects.count() == 1 and not Attachment.objects.exists()
    assert attachment_files() == files
    assert database_state() == before


@pytest.mark.parametrize("name", ["../../../../../tmp/geogrid-evil.png", "/etc/cron.d/geogrid.png", "..\\..\\evil.png"])
def test_uploaded_names_never_become_paths(worker, name):
    upload = SimpleUploadedFile(name, png(), content_type="image/png")
    response = worker.post(
        "/api/v1/incidents/",
        {"description": "x", "category": "E0402", "location": "116.385,39.905", "files": [upload]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get()
    stored = Path(attachment.file.path).resolve()
    assert stored.is_relative_to(Path(attachment.file.storage.location).resolve())
    assert "evil" not in str(stored) and "geogrid.png" not in str(stored) and ".." not in stored.parts
    assert not Path("/tmp/geogrid-evil.png").exists()  # noqa: S108 - where the name pointed


def test_an_import_upload_is_stored_under_our_own_name(worker, private_root, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile(
        "../../../evil.csv", corpus.csv_bytes([["地址", "经度", "纬度"], ["x", "116.385", "39.905"]])
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = worker.post("/api/v1/imports/households/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get()
    stored = Path(job.stored_path).resolve()
    assert stored.parent == (private_root / "imports").resolve() and "evil" not in stored.name
    assert job.file_name == "evil.csv"


# --- JSON nested too deeply: a 400, never a crash ---------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_deeply_nested_json_is_a_400(worker, depth):
    body = '{"description": "x", "category": "E0402", "location": ' + "[" * depth + "]" * depth + "}"
    response = worker.post("/api/v1/incidents/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nests" in response.json()["error"]["message"]
    assert not Incident.objects.exists()


def test_json_within_the_nesting_limit_is_read(worker):
    body = '{"description": "x", "category": "E0402", "location": ' + "[" * 30 + "]" * 30 + "}"
    response = worker.post("/api/v1/incidents/", data=body, content_type="application/json")
    assert response.status_code == 400 and "location" in response.json()["error"]["fields"]


def test_a_deeply_nested_sms_post_is_a_400(client, settings):
    settings.GEOGRID_SMS_SECRET = "gateway-secret"
    body = b"[" * 100_000 + b"]" * 100_000
    timestamp = str(int(time.time()))
    response = client.post(
        "/sms/inbound/",
        data=body,
        content_type="application/json",
        HTTP_X_SMS_TIMESTAMP=timestamp,
        HTTP_X_SMS_SIGNATURE=signature_compute(timestamp=timestamp, body=body, secret="gateway-secret"),
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


# --- no server-side fetch of a URL a user gives ----------------------------------------------------------


@pytest.fixture
def listening():
    """A local HTTP server counting the requests it gets: the URL a hostile client would hand us."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_open311_media_url_is_stored_not_fetched(client, city_api, listening, django_capture_on_commit_callbacks):
    base, hits = listening
    _client, key = client_create(name="app")
    url = f"{base}/photo.jpg"
    fields = {"api_key": key, "service_code": "E0401", "lat": "39.905", "long": "116.385", "media_url": url}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/open311/v2/requests.json", fields)
    assert response.status_code == 201, response.content
    number = response.json()[0]["service_request_id"]
    assert Open311Request.objects.get().media_url == url
    # Shown back as given, to the public and to staff, still without a fetch.
    assert client.get(f"/open311/v2/requests/{number}.json").json()[0]["media_url"] == url
    assert city_api.get(f"/api/v1/incidents/{Incident.objects.get().pk}/").status_code == 200
    assert hits == []
    # The listener is real: a request to it is counted, so the empty list above means nobody asked.
    with urllib.request.urlopen(f"{base}/probe", timeout=5):  # noqa: S310 - the local test server
        pass
    assert hits == ["/probe"]
