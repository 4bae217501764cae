"""Exports grid units of the active generation to GeoPackage, GeoJSON or Shapefile."""

from django.core.management.base import BaseCommand, CommandError

from boundaries.management.commands.import_boundaries import level_argument
from boundaries.selectors import generation_active
from boundaries.services import EXPORT_FORMATS, boundary_export


class Command(BaseCommand):
    help = "Export grid units (all, one level, or one subtree) of the active generation to a file."

    def add_arguments(self, parser):
        parser.add_argument("out", help="output file")
        parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS))
        parser.add_argument("--level", help="only this level: city, district, street, community or grid")
        parser.add_argument("--under", help="only this unit and everything beneath it (a unit code)")

    def handle(self, *args, **options):
        generation = generation_active()
        if generation is None:
            raise CommandError("No boundaries have been imported yet.")
        count = boundary_export(
            out=options["out"],
            file_format=options["format"],
            generation=generation,
            level=level_argument(options["level"]) if options["level"] else None,
            under=options["under"],
        )
        self.stdout.write(f"Wrote {count} grid units to {options['out']}.")
