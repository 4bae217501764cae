"""The demo incidents: inside the city, timelines that end in the incident's status, visit logs per worker."""

import pytest
from django.db.models import Max

from incidents.demo import load_demo_incidents
from incidents.models import Incident, IncidentEvent, VisitLog

pytestmark = pytest.mark.django_db


def test_a_small_demo_year(population, staff):
    counts = load_demo_incidents(seed=3, incidents=400)
    assert 300 <= counts["incidents"] <= 400  # points that fell outside the small city are dropped
    assert counts["visit_logs"] > 0 and counts["grid_workers"] >= 3
    incidents = list(Incident.objects.all())
    assert all(i.grid_code.startswith("110101") for i in incidents)
    statuses = {i.status for i in incidents}
    assert {"closed", "reported", "in_progress", "merged", "escalated", "returned"} <= statuses
    last = {row["incident"]: row["at"] for row in IncidentEvent.objects.values("incident").annotate(at=Max("at"))}
    for incident in incidents[:100]:
        final = incident.events.filter(at=last[incident.pk]).order_by("-id").first()
        assert final.to_status == incident.status, incident.number
    for incident in Incident.objects.filter(status="merged"):
        assert incident.merged_into.category_id == incident.category_id
    assert VisitLog.objects.exclude(grid_code="").count() == VisitLog.objects.count()
