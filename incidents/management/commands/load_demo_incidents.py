"""Loads a year of demo incidents and visit logs (skips when incidents exist)."""

from django.core.management.base import BaseCommand

from incidents.demo import load_demo_incidents
from incidents.models import Incident


class Command(BaseCommand):
    help = "Generate the demo city's incidents of the past year (hotspots, seasons, every status) and visit logs."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=20240601)
        parser.add_argument("--incidents", type=int, default=20_000)

    def handle(self, *args, **options):
        if Incident.objects.exists():
            self.stdout.write("Incidents already loaded; skipping the demo incidents.")
            return
        counts = load_demo_incidents(seed=options["seed"], incidents=options["incidents"])
        self.stdout.write(", ".join(f"{name}: {value}" for name, value in counts.items()))
