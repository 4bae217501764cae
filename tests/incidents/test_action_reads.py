"""An action on a case reads the case's timeline once, for the answer: finding the case needs none of it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Incident
from tests.conftest import client_of

pytestmark = pytest.mark.django_db


def _timeline_reads(queries) -> int:
    return sum(1 for query in queries.captured_queries if 'FROM "incidents_incidentevent"' in query["sql"])


def test_an_action_reads_the_timeline_once(staff, report):
    incident = report(category="E0402")
    with CaptureQueriesContext(connection) as queries:
        response = client_of(staff["dispatcher"]).post(
            f"/api/v1/incidents/{incident.pk}/actions/accept/", {}, format="json"
        )
    assert response.status_code == 200, response.content
    assert [event["action"] for event in response.json()["timeline"]] == ["report", "accept"]
    assert _timeline_reads(queries) == 1


def test_a_case_out_of_scope_is_still_not_found(staff, report):
    incident = report(category="E0402")
    response = client_of(staff["east_dispatcher"]).post(
        f"/api/v1/incidents/{incident.pk}/actions/accept/", {}, format="json"
    )
    assert response.status_code == 404
    assert Incident.objects.get(pk=incident.pk).status == "reported"
