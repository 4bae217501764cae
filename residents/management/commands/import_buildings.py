"""Imports the address gazetteer (buildings) from CSV or XLSX; a dry run unless --commit."""

from django.core.management.base import BaseCommand, CommandError

from core.scope import Scope
from residents.importing import building_import


class Command(BaseCommand):
    help = "Import buildings (ref, address, lon, lat, floors, units) used to geocode households."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--encoding")
        parser.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84")
        parser.add_argument("--commit", action="store_true")

    def handle(self, *args, **options):
        report = building_import(
            path=options["file"],
            scope=Scope.everything(),
            commit=options["commit"],
            encoding=options["encoding"],
            crs=options["crs"],
        )
        self.stdout.write(report.as_text())
        if not report.ok:
            raise CommandError(f"{len(report.errors)} errors; nothing was written.")
