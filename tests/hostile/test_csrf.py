"""CSRF: every HTML form and every API view that accepts a session refuses a POST without the token."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib.gis.geos import Point
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from core.scope import Scope
from incidents.models import Category
from incidents.services import incident_create

pytestmark = pytest.mark.django_db

PASSWORD = "Csrf-test-password-7"
# Values for the path converters of the URL patterns: an id that need not exist, a code, a format.
SAMPLES = {"int": "1", "str": "x", "slug": "x", "path": "x"}


class Forms(HTMLParser):
    """The forms of a page: action, method and the names of their inputs."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(), "inputs": []}
            )
        elif tag in ("input", "button", "select", "textarea") and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"].append(attrs["name"])


def forms_of(html: str) -> list[dict]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


@pytest.fixture
def admin(make_user, small_city):
    user = make_user("system_admin", units=["110100"], username="root", password=PASSWORD)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


@pytest.fixture
def strict(admin) -> Client:
    """A browser signed in as the administrator (every page is open to them) whose posts are CSRF-checked."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    return client


def test_signing_in_without_the_token_is_403(admin):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "root", "password": PASSWORD}).status_code == 403
    assert client.post("/admin/login/", {"username": "root", "password": PASSWORD}).status_code == 403
    assert "_auth_user_id" not in client.session
    # With the token the same sign-in works: the 403s above are the token's doing.
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    form = {"username": "root", "password": PASSWORD, "csrfmiddlewaretoken": token}
    assert client.post("/login/", form).status_code == 302


def test_every_post_form_of_every_page_carries_the_token_and_needs_it(strict, admin):
    category = Category.objects.get(code="E0401")
    incident = incident_create(
        scope=Scope.everything(),
        actor=admin,
        title="t",
        description="d",
        category=category,
        location=Point(116.385, 39.905, srid=4326),
        source="patrol",
    )
    pages = [
        "/login/",
        "/",
        "/map/",
        "/dispatch/",
        f"/dispatch/incidents/{incident.pk}/",
        "/field/",
        "/plan/",
        "/records/",
    ]
    anonymous = Client(enforce_csrf_checks=True)
    posted = set()
    for url in pages:
        # The sign-in page sends a signed-in user on: it is read as a stranger reads it.
        response = (anonymous if url == "/login/" else strict).get(url, follow=True)
        assert response.status_code == 200, url
        for form in forms_of(response.content.decode()):
            if form["method"] != "post":
                continue
            assert "csrfmiddlewaretoken" in form["inputs"], (url, form)
            action = form["action"] or url
            if action in posted:
                continue
            posted.add(action)
            assert strict.post(action, {"next": "/"}).status_code == 403, (url, action)
    # The language switch and sign-out of every page, and the sign-in page's form, were all found.
    assert {"/i18n/setlang/", "/logout/", "/login/"} <= posted
    assert "_auth_user_id" in strict.session  # the refused sign-out did not sign out


def _routes(patterns, prefix=""):
    """(path with sample values, view class) of every route whose pattern is a plain path()."""
    for pattern in patterns:
        if not isinstance(pattern.pattern, RoutePattern):
            continue
        route = prefix + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route, getattr(pattern.callback, "cls", None)


def session_api_views():
    """Every API view that accepts a signed-in browser's session, with the unsafe methods it answers."""
    found = []
    for path, view in _routes(get_resolver().url_patterns):
        if view is None or not issubclass(view, APIView):
            continue
        if not any(issubclass(auth, SessionAuthentication) for auth in view.authentication_classes):
            continue
        methods = [m for m in ("post", "put", "patch", "delete") if hasattr(view, m)]
        found.extend((path, method) for method in methods)
    return found


SESSION_WRITES = session_api_views()


def test_the_api_views_were_found():
    """Guards the enumeration below: the session-accepting API has dozens of ways to write."""
    assert len(SESSION_WRITES) > 20
    assert ("/api/v1/incidents/", "post") in SESSION_WRITES


@pytest.mark.parametrize(("path", "method"), SESSION_WRITES, ids=[f"{m} {p}" for p, m in SESSION_WRITES])
def test_a_session_write_without_the_token_is_403(strict, path, method):
    response = getattr(strict, method)(path, data="{}", content_type="application/json")
    assert response.status_code == 403, (path, response.content[:200])
    assert "CSRF" in response.json()["error"]["message"]
