"""Runs the deadline job once: overdue incidents go one level up and their supervisors are told."""

from django.core.management.base import BaseCommand

from incidents.services import escalate_overdue


class Command(BaseCommand):
    help = "Escalate overdue incidents once (run it every minute from cron, or use run_periodic)."

    def handle(self, *args, **options):
        self.stdout.write(f"Escalated {escalate_overdue()} overdue incidents.")
