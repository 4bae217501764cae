"""Imports households and residents from CSV or XLSX; a dry run unless --commit."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.scope import Scope
from core.tabular import TableFileError
from residents.importing import household_import, import_options, load_mapping


class Command(BaseCommand):
    help = (
        "Import households and residents (one row per resident; rows sharing a household number form one "
        "household). Without --commit this is a dry run: it prints the report and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV or XLSX file")
        parser.add_argument("--mapping", help="YAML file: columns (canonical name: header), crs, encoding")
        parser.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], help="datum of the coordinates")
        parser.add_argument("--encoding", help="text encoding of a CSV file when it is not UTF-8, e.g. gbk")
        parser.add_argument("--geocode", action="store_true", help="place rows without coordinates by address")
        parser.add_argument("--skip-bad", action="store_true", help="load the good rows and report the bad ones")
        parser.add_argument("--rejects", help="write the bad rows with their errors to this CSV file")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--commit", action="store_true", help="write (all or nothing unless --skip-bad)")

    def handle(self, *args, **options):
        try:
            mapping = load_mapping(options["mapping"])
        except TableFileError as exc:
            raise CommandError(exc.message) from None
        import_opts = import_options(
            mapping=mapping,
            crs=options["crs"],
            encoding=options["encoding"],
            geocode=options["geocode"],
            skip_bad=options["skip_bad"],
            commit=options["commit"],
        )
        bars: dict[str, tqdm] = {}
        quiet = options["verbosity"] == 0 or not sys.stderr.isatty() and options["json"]

        def progress(stage: str, done: int, total: int) -> None:
            if quiet:
                return
            bar = bars.get(stage)
            if bar is None:
                for other in bars.values():
                    other.close()
                unit, scale = ("B", True) if stage == "reading" else ("step", False)
                bar = bars[stage] = tqdm(
                    total=total, desc=stage, unit=unit, unit_scale=scale, file=sys.stderr, leave=False
                )
            bar.update(done - bar.n)

        rejects_path = Path(options["rejects"]) if options["rejects"] else None
        rejects = rejects_path.open("w", encoding="utf-8-sig", newline="") if rejects_path else None
        try:
            report = household_import(
                path=options["file"],
                options=import_opts,
                scope=Scope.everything(),
                progress=progress,
                rejects_to=rejects,
            )
        finally:
            for bar in bars.values():
                bar.close()
            if rejects:
                rejects.close()
        self.stdout.write(report.as_json() if options["json"] else report.as_text())
        if rejects_path and report.bad_rows:
            self.stdout.write(f"Bad rows written to {rejects_path}.")
        if not report.ok:
            raise CommandError(f"{len(report.bad_rows) or len(report.errors)} bad rows; nothing was written.")
