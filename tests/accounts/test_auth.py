"""Signing in: tokens (create, list, revoke, expiry), the web login, throttling and lockout."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-battery-7"


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()


@pytest.fixture
def staff(small_city, make_user):
    return make_user("street_leader", units=["110101001"], username="lihua", password=PASSWORD)


def login(client, username="lihua", password=PASSWORD, **extra):
    return client.post("/api/v1/auth/login/", {"username": username, "password": password, **extra}, format="json")


def test_login_returns_a_token_once_and_stores_only_its_digest(api_client, staff):
    response = login(api_client, name="laptop")
    assert response.status_code == 201
    key = response.json()["token"]
    token = ApiToken.objects.get(user=staff)
    assert token.name == "laptop" and key.startswith(token.token_key)
    assert key not in token.digest and len(token.digest) == 128  # a SHA-512 digest
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = api_client.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["username"] == "lihua"
    assert me.json()["roles"] == ["street_leader"]
    assert me.json()["units"] == [{"code": "110101001", "kind": "view", "name": "西街道", "level": "street"}]
    listed = api_client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["laptop"] and "token" not in listed[0] and "digest" not in listed[0]
    assert listed[0]["last_used_at"] is not None


def test_wrong_password_is_401(api_client, staff):
    response = login(api_client, password="nope")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not ApiToken.objects.exists()


def test_repeated_failures_lock_the_account_even_for_the_right_password(api_client, staff, settings):
    statuses = [login(api_client, password="wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses == [401] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    response = login(api_client)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    # Another user from the same address is not affected.
    assert login(api_client, username="someone-else", password="x").status_code == 401


def test_the_lockout_ends_after_the_cool_off(api_client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(api_client, password="wrong")
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(hours=1))
    assert login(api_client).status_code == 201


def test_login_is_throttled(api_client, staff, settings):
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"].split("/")[0])
    statuses = [login(api_client, username=f"nobody{i}", password="x").status_code for i in range(rate + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}


def test_tokens_are_revoked_and_then_refused(api_client, staff):
    key = login(api_client).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    second = api_client.post("/api/v1/tokens/", {"name": "script", "expires_in_days": 7}, format="json")
    assert second.status_code == 201
    second_key = second.json()["token"]
    assert api_client.delete(f"/api/v1/tokens/{second.json()['token_key']}/").status_code == 204
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {second_key}")
    assert api_client.get("/api/v1/me/").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.post("/api/v1/auth/logout/").status_code == 204
    assert api_client.get("/api/v1/me/").status_code == 401


def test_a_user_cannot_revoke_someone_elses_token(api_client, staff, make_user, client_for):
    key = login(api_client).json()["token"]
    other = client_for("viewer", units=["110101002"])
    assert other.delete(f"/api/v1/tokens/{key[:15]}/").status_code == 404
    assert other.delete(f"/api/v1/tokens/{ApiToken.objects.get(user=staff).token_key}/").status_code == 404
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/me/").status_code == 200


def test_expired_tokens_are_refused(api_client, staff):
    key = login(api_client).json()["token"]
    ApiToken.objects.filter(user=staff).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/me/").status_code == 401


def test_inactive_users_are_refused(api_client, staff):
    key = login(api_client).json()["token"]
    staff.is_active = False
    staff.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/me/").status_code == 401


def test_the_web_login_page_signs_in_and_out(client, staff):
    page = client.get("/login/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = client.post("/login/", {"username": "lihua", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/", follow=True)
    assert home.redirect_chain[-1][0] == "/map/"
    assert "110101001" in home.content.decode()
    assert client.post("/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/login/")


def test_the_web_login_shows_errors_and_locks_out(client, staff, settings):
    response = client.post("/login/", {"username": "lihua", "password": "bad"})
    assert response.status_code == 200 and "Wrong username or password" in response.content.decode()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "lihua", "password": "bad"})
    locked = client.post("/login/", {"username": "lihua", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()


def test_password_validators_apply_to_new_users(admin_api):
    response = admin_api.post(
        "/api/v1/users/",
        {"username": "newbie", "password": "12345678", "roles": ["viewer"], "units": ["110101001"]},
        format="json",
    )
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]
