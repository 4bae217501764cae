"""Imports one level of grid units from a boundary file; a dry run unless --commit."""

from django.core.management.base import BaseCommand, CommandError

from boundaries.models import Level
from boundaries.services import boundary_import


def level_argument(value) -> Level:
    """The --level option as a Level; CommandError naming the choices otherwise."""
    try:
        return Level.from_name(value)
    except ValueError:
        names = ", ".join(level.slug for level in Level)
        raise CommandError(f"Unknown level {value!r}; use one of: {names}") from None


class Command(BaseCommand):
    help = (
        "Import grid units of one level from a Shapefile, GeoPackage or GeoJSON file. Without --commit "
        "this is a dry run: it prints the report and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Shapefile (.shp), GeoPackage (.gpkg) or GeoJSON file")
        parser.add_argument("--level", required=True, help="city, district, street, community or grid")
        parser.add_argument("--code-field", required=True, help="field holding the unit code")
        parser.add_argument("--name-field", required=True, help="field holding the unit name")
        parser.add_argument("--parent-field", help="field holding the parent's code (checked against the code)")
        parser.add_argument("--layer", help="layer to read when the file has several")
        parser.add_argument(
            "--source-srid", type=int, help="EPSG code of the file's CRS when it does not say (no .prj)"
        )
        parser.add_argument("--encoding", help="text encoding of the attributes when the file does not say, e.g. GBK")
        parser.add_argument("--fix-invalid", action="store_true", help="repair invalid polygons with ST_MakeValid")
        parser.add_argument("--tolerance", type=float, help="overlap / outside-parent tolerance in m²")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--commit", action="store_true", help="write the units (all or nothing)")

    def handle(self, *args, **options):
        report = boundary_import(
            path=options["file"],
            level=level_argument(options["level"]),
            code_field=options["code_field"],
            name_field=options["name_field"],
            parent_field=options["parent_field"],
            layer=options["layer"],
            source_srid=options["source_srid"],
            encoding=options["encoding"],
            fix_invalid=options["fix_invalid"],
            tolerance_m2=options["tolerance"],
            commit=options["commit"],
        )
        self.stdout.write(report.as_json() if options["json"] else report.as_text())
        if not report.ok:
            raise CommandError(f"{len(report.errors)} errors; nothing was written.")
