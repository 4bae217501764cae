"""The security headers pages and API answers carry, here and under the production settings (HSTS over https)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from core.security import content_security_policy
from tests.hostile.conftest import ROOT

pytestmark = pytest.mark.django_db

EVERYWHERE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def assert_policy_protects(policy: str) -> None:
    rules = directives(policy)
    assert rules["default-src"] == ["'self'"]
    assert rules["script-src"] == ["'self'"]  # no inline scripts, no eval
    assert rules["object-src"] == ["'none'"] and rules["frame-ancestors"] == ["'none'"]
    assert "blob:" in rules["worker-src"]  # MapLibre starts its workers from blob: URLs


@pytest.fixture
def signed_in(client, make_user, small_city):
    # A system administrator: every page is open to them.
    client.force_login(make_user("system_admin", units=["110100"]))
    return client


@pytest.mark.parametrize("url", ["/login/", "/map/", "/dispatch/", "/field/", "/plan/", "/records/"])
def test_pages_carry_the_headers_and_a_content_security_policy(signed_in, url):
    response = signed_in.get(url, follow=True)
    assert response.status_code == 200
    for header, value in EVERYWHERE.items():
        assert response[header] == value, header
    assert_policy_protects(response["Content-Security-Policy"])


@pytest.mark.parametrize("url", ["/api/v1/me/", "/api/v1/units/", "/healthz", "/open311/v2/services.json"])
def test_api_answers_carry_the_headers(signed_in, url):
    response = signed_in.get(url)
    assert response.status_code == 200
    for header, value in EVERYWHERE.items():
        assert response[header] == value, header
    assert "Content-Security-Policy" not in response  # a JSON answer runs nothing


def test_errors_carry_them_too(client):
    for response in (client.get("/api/v1/units/"), client.get("/no-such-page/")):
        assert response.status_code in (401, 404)
        assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"


def test_the_admin_keeps_its_inline_scripts(client, make_user, small_city):
    """The admin's map widget runs inline scripts: its pages are exempt from the policy, nothing else is."""
    user = make_user("system_admin", units=["110100"])
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200 and "Content-Security-Policy" not in response
    assert response["X-Frame-Options"] == "DENY"


def test_the_base_map_origin_is_allowed_and_nothing_more(settings):
    settings.GEOGRID_BASEMAP_URL = "https://tiles.example.org/base/{z}/{x}/{y}.png?key=abc"
    rules = directives(content_security_policy())
    assert "https://tiles.example.org" in rules["img-src"] and "https://tiles.example.org" in rules["connect-src"]
    assert "https://tiles.example.org" not in rules["script-src"]
    settings.GEOGRID_BASEMAP_URL = ""
    assert "https://tiles.example.org" not in content_security_policy()


PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "7c1e9a3f5b2d8e4a6c0f1b3d5e7a9c2f4g6h",
    "GEOGRID_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "GEOGRID_BLIND_INDEX_KEY": "blind-index-key-for-header-tests-0123456789",
    "ALLOWED_HOSTS": "grid.example",
    "DJANGO_SETTINGS_MODULE": "geogrid.settings.production",
}
# Runs under the production settings: what a browser and an API client get over http and over https.
_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="grid.example")
answers = {}
for name, url, secure in [("page_http", "/login/", False), ("page", "/login/", True), ("api", "/api/v1/units/", True)]:
    response = client.get(url, secure=secure)
    answers[name] = {"status": response.status_code, "headers": dict(response.items()),
                     "cookies": {k: dict(v) for k, v in response.cookies.items()}}
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def production():
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECURE_SSL_REDIRECT")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env={**environment, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_sends_plain_http_to_https(production):
    answer = production["page_http"]
    assert answer["status"] == 301 and answer["headers"]["Location"] == "https://grid.example/login/"


def test_production_pages_carry_hsts_and_every_header(production):
    answer = production["page"]
    assert answer["status"] == 200
    headers = answer["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    for header, value in EVERYWHERE.items():
        assert headers[header] == value, header
    assert_policy_protects(headers["Content-Security-Policy"])
    assert answer["cookies"]["csrftoken"]["secure"] is True


def test_production_api_answers_carry_hsts(production):
    answer = production["api"]
    assert answer["status"] == 401
    assert answer["headers"]["Strict-Transport-Security"].startswith("max-age=31536000")
    for header, value in EVERYWHERE.items():
        assert answer["headers"][header] == value, header
