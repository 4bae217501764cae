"""Loads the demo city's boundary files through import_boundaries, level by level; skips when loaded."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from boundaries.models import GridUnit, Level

DEMO_FILES = [
    (Level.CITY, "city.shp"),
    (Level.DISTRICT, "district.shp"),
    (Level.STREET, "street.shp"),
    (Level.COMMUNITY, "community.shp"),
    (Level.GRID, "grid.shp"),
]


class Command(BaseCommand):
    help = "Import the demo city from data/shapefiles/ with the real importer (does nothing if already loaded)."

    def add_arguments(self, parser):
        parser.add_argument("--directory", default=str(settings.GEOGRID_DEMO_SHAPEFILES))

    def handle(self, *args, **options):
        if GridUnit.objects.exists():
            self.stdout.write("Boundaries already loaded; skipping the demo city.")
            return
        for level, filename in DEMO_FILES:
            call_command(
                "import_boundaries",
                f"{options['directory']}/{filename}",
                level=level.slug,
                code_field="CODE",
                name_field="NAME",
                parent_field=None if level == Level.CITY else "PARENT",
                commit=True,
                stdout=self.stdout,
            )
