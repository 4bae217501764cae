"""The deadline job runs without the web process: as a command, and from the periodic runner."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents.models import Incident

pytestmark = pytest.mark.django_db


def overdue(incident) -> None:
    Incident.objects.filter(pk=incident.pk).update(
        status="accepted", overdue_notified_at=None, due_at=timezone.now() - dt.timedelta(minutes=1)
    )


def test_the_commands_escalate_overdue_incidents(report, capsys):
    incident = report(category="E0402")
    overdue(incident)
    call_command("escalate_overdue")
    assert "Escalated 1" in capsys.readouterr().out
    escalated = Incident.objects.get(pk=incident.pk)
    assert escalated.status == "escalated" and escalated.assigned_unit_code == "110101"
    overdue(incident)
    call_command("run_periodic", "--once")
    assert "escalate_overdue: 1" in capsys.readouterr().out
    assert Incident.objects.get(pk=incident.pk).assigned_unit_code == "110100"
