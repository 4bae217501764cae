"""Tile URLs through the WSGI application's shorter middleware chain (tiles.handler), against the full stack."""

import io
import sys

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import Client

from geogrid.wsgi import application
from tests.tiles.conftest import decode, tile_of
from tiles.handler import SKIPPED, TileHandler, tile_middleware

pytestmark = pytest.mark.django_db


def wsgi_get(app, path: str, query: str = "", **headers):
    """One GET through a WSGI application, as gunicorn makes it: (status code, headers, body)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    started = []
    # As Django's test client does: the request must not close the test's transaction's connection.
    request_started.disconnect(close_old_connections)
    try:
        body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append((status, headers))))
    finally:
        request_started.connect(close_old_connections)
    status, response_headers = started[-1]
    return int(status.split()[0]), dict(response_headers), body


def token_of(api_client) -> str:
    return api_client._credentials["HTTP_AUTHORIZATION"]


def test_a_tile_through_the_short_chain_is_the_full_stacks_tile_with_the_same_headers(city_api, small_city):
    x, y = tile_of(116.385, 39.905, 14)
    path = f"/tiles/units/14/{x}/{y}.mvt"
    token = token_of(city_api)
    full = wsgi_get(WSGIHandler(), path, authorization=token)
    short = wsgi_get(application, path, authorization=token)
    assert full[0] == short[0] == 200
    assert short[2] == full[2] and decode(short[2])["units"]
    assert short[1] == full[1]  # security headers, language, caching: nothing the middleware adds is lost
    assert short[1]["X-Content-Type-Options"] == "nosniff" and short[1]["Content-Length"] == str(len(short[2]))


def test_the_short_chain_refuses_as_the_full_stack_does(client_for, small_city):
    x, y = tile_of(116.385, 39.905, 14)
    path = f"/tiles/units/14/{x}/{y}.mvt"
    status, headers, body = wsgi_get(application, path, accept_language="zh-hans")
    assert status == 401 and b"not_authenticated" in body and headers["Content-Language"] == "zh-hans"
    department = token_of(client_for("department_staff", ["110101"]))  # may not see the choropleth
    status, _headers, body = wsgi_get(application, "/tiles/choropleth/12/0/0.mvt", authorization=department)
    assert status == 403 and b"permission_denied" in body
    assert wsgi_get(application, "/tiles/rivers/14/0/0.mvt", authorization=department)[0] == 404
    assert wsgi_get(application, "/tiles/units/3/9/0.mvt", authorization=department)[0] == 404


def test_a_signed_in_browser_gets_its_tiles_through_the_short_chain(make_user, small_city):
    user = make_user("viewer", ["110101"])
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    x, y = tile_of(116.385, 39.905, 14)
    status, _headers, body = wsgi_get(application, f"/tiles/units/14/{x}/{y}.mvt", cookie=cookie)
    assert status == 200
    codes = {feature["properties"]["code"] for feature in decode(body)["units"]["features"]}
    assert codes and all(code.startswith("110101") for code in codes)  # the session's scope, nothing else


def test_other_urls_keep_the_full_stack(small_city):
    status, headers, _body = wsgi_get(application, "/login/")
    assert status == 200 and "Content-Security-Policy" in headers and "csrftoken" in headers.get("Set-Cookie", "")


def test_the_short_chain_keeps_what_concerns_tiles_and_skips_only_what_it_names():
    chain = tile_middleware()
    for kept in (
        "core.middleware.DatabaseUnavailableMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ):
        assert kept in chain
    assert not set(chain) & set(SKIPPED)
    # The handler loads exactly that chain, and leaves the settings as they were.
    from django.conf import settings

    full = list(settings.MIDDLEWARE)
    handler = TileHandler()
    assert full == settings.MIDDLEWARE
    loaded = [type(m.__self__).__module__ + "." + type(m.__self__).__name__ for m in handler._exception_middleware]
    assert "core.middleware.DatabaseUnavailableMiddleware" in loaded
    assert not any(path in SKIPPED for path in loaded)
