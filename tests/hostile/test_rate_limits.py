"""Rate limits on the public doors: sign-in, Open311 posts, the SMS gateway; a forged X-Forwarded-For escapes none."""

import pytest

from incidents.models import Incident
from open311.services import client_create

pytestmark = pytest.mark.django_db

OPEN311 = "/open311/v2"


@pytest.fixture
def open311_key(small_city):
    _client, key = client_create(name="city app")
    return key


def open311_post(client, key, **headers):
    fields = {"api_key": key, "service_code": "E0401", "lat": "39.905", "long": "116.385", "description": "占道经营"}
    return client.post(f"{OPEN311}/requests.json", fields, **headers)


def forged(index: int) -> dict:
    """Headers of a client claiming to be forwarded for another address each time."""
    return {"HTTP_X_FORWARDED_FOR": f"203.0.113.{index % 250}"}


def test_open311_posts_have_their_own_tighter_rate(client, open311_key, settings):
    settings.GEOGRID_OPEN311_POST_RATE = "3/min"
    codes = [open311_post(client, open311_key).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    throttled = open311_post(client, open311_key)
    assert throttled.json()[0]["code"] == 429 and int(throttled["Retry-After"]) > 0
    assert Incident.objects.count() == 3
    # Reading goes on: the post rate counts posts only.
    assert client.get(f"{OPEN311}/services.json").status_code == 200


def test_a_forged_forwarded_for_does_not_escape_the_open311_rates(client, open311_key, settings):
    settings.GEOGRID_OPEN311_POST_RATE = "3/min"
    codes = [open311_post(client, open311_key, **forged(i)).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    settings.GEOGRID_OPEN311_RATE = "3/min"
    codes = [client.get(f"{OPEN311}/services.json", **forged(i)).status_code for i in range(4)]
    assert codes[-1] == 429


def test_a_forwarded_for_from_a_trusted_proxy_names_the_client(client, open311_key, settings):
    """Behind the configured reverse proxy each client has its own allowance."""
    settings.GEOGRID_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.GEOGRID_OPEN311_POST_RATE = "1/min"
    codes = [open311_post(client, open311_key, **forged(i)).status_code for i in range(3)]
    assert codes == [201, 201, 201]
    assert open311_post(client, open311_key, **forged(0)).status_code == 429


def test_a_forged_forwarded_for_does_not_escape_the_login_rate(api_client, settings):
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"].split("/")[0])
    codes = [
        api_client.post(
            "/api/v1/auth/login/", {"username": f"nobody{i}", "password": "x"}, format="json", **forged(i)
        ).status_code
        for i in range(rate + 1)
    ]
    assert codes[-1] == 429 and set(codes[:-1]) == {401}


@pytest.mark.parametrize("path", ["/sms/inbound/", "/sms/status/"])
def test_the_sms_gateway_endpoints_are_rate_limited(client, settings, path):
    """Even unsigned posts count: a flood is cut off before any signature is computed."""
    settings.GEOGRID_SMS_SECRET = "gateway-secret"
    settings.GEOGRID_SMS_GATEWAY_RATE = "3/min"
    codes = [client.post(path, data=b"{}", content_type="application/json", **forged(i)).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    throttled = client.post(path, data=b"{}", content_type="application/json")
    assert throttled.json()["error"]["code"] == "throttled" and int(throttled["Retry-After"]) > 0
