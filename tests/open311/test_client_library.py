"""Open311 exercised over HTTP by GeoReport, a published GeoReport v2 client library, against a live server."""

import pytest
import requests

from incidents.models import Incident, Source
from open311.services import client_create

pytestmark = pytest.mark.django_db(transaction=True)

# In the dev extras; skipped rather than failing collection where the extras are not installed.
GeoReport = pytest.importorskip("georeport").GeoReport


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client(live_server, small_city, fmt):
    _client, key = client_create(name="georeport")
    base = f"{live_server.url}/open311/v2"
    georeport = GeoReport(base, api_key=key, output_format=fmt)

    services = georeport.get_service_list()
    assert any(s["service_code"] == "C0101" for s in services)
    definition = georeport.get_service_definition("C0101")
    assert definition["service_code"] == "C0101"

    # The library only reads; posting is a plain form-encoded request, as the spec has it.
    response = requests.post(
        f"{base}/requests.{fmt}",
        data={
            "api_key": key,
            "service_code": "C0101",
            "lat": "39.905",
            "long": "116.385",
            "description": "井盖缺失",
            "attribute[condition]": "missing",
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created = Incident.objects.get(source=Source.OPEN311)
    assert created.grid_code == "110101001001001"

    detail = georeport.get_service_request(created.number)
    assert detail["service_request_id"] == created.number
    assert detail["status"] == "open"
    listed = georeport.get_service_requests(service_code="C0101", status="open")
    listed = listed if isinstance(listed, list) else [listed]  # XML: one request parses to a dict
    assert [r["service_request_id"] for r in listed] == [created.number]
