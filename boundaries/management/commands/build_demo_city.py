"""Builds the demo city's boundary files (deterministic: the same seed gives the same files)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from boundaries.demo import build_demo_city, write_demo_shapefiles


class Command(BaseCommand):
    help = "Generate the demo city's Shapefiles (city, district, street, community, grid) into a directory."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(settings.GEOGRID_DEMO_SHAPEFILES), help="output directory")
        parser.add_argument("--seed", type=int, default=20240601)
        parser.add_argument("--grids", type=int, default=450, help="about how many grid cells")

    def handle(self, *args, **options):
        city = build_demo_city(seed=options["seed"], n_grids=options["grids"])
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        for path in write_demo_shapefiles(city, out):
            self.stdout.write(f"wrote {path}")
