"""Recomputes the indicator rollups: the periods whose records changed, or every period (--full)."""

from django.core.management.base import BaseCommand

from assessment.services import kpi_refresh


class Command(BaseCommand):
    help = "Refresh the KPI rollups (incremental by default; --full recomputes every period with data)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true")

    def handle(self, *args, **options):
        refreshed = kpi_refresh(full=options["full"])
        self.stdout.write(f"Refreshed {len(refreshed)} periods.")
