"""Loads the demo city's buildings, households and residents through the real importers; skips when loaded."""

import tempfile
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from boundaries.demo import build_demo_city
from residents.demo import build_demo_population, write_demo_population
from residents.models import Household


class Command(BaseCommand):
    help = "Generate the demo population (deterministic) and import it with import_buildings and import_households."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=20240601, help="the demo city's seed")
        parser.add_argument("--households", type=int, default=50_000)

    def handle(self, *args, **options):
        if Household.objects.exists():
            self.stdout.write("Households already loaded; skipping the demo population.")
            return
        city = build_demo_city(seed=options["seed"])
        population = build_demo_population(city, seed=options["seed"], households=options["households"])
        with tempfile.TemporaryDirectory() as directory:
            files = write_demo_population(population, Path(directory))
            call_command("import_buildings", str(files["buildings"]), commit=True, stdout=self.stdout)
            try:
                call_command(
                    "import_households",
                    str(files["households"]),
                    mapping=str(files["mapping"]),
                    geocode=True,
                    commit=True,
                    verbosity=0,
                    stdout=self.stdout,
                )
            except CommandError as exc:
                raise CommandError(f"The demo population did not import: {exc}") from None
