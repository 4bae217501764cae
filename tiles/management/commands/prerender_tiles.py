"""Builds the low-zoom tiles of layers ahead into the tile cache (after an activation, or from cron)."""

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApiError
from tiles.prerender import prerender_tiles


class Command(BaseCommand):
    help = (
        "Build the tiles of the given layers up to --max-zoom into the tile cache, for everyone, the city and "
        "each district (or only the users bound to --unit)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layer", action="append", required=True, help="a layer name; repeat for more")
        parser.add_argument("--max-zoom", type=int, required=True)
        parser.add_argument("--min-zoom", type=int, default=None, help="default: the layer's first zoom")
        parser.add_argument("--unit", default=None, help="only for the users bound to this unit code")

    def handle(self, *args, **options):
        try:
            built = prerender_tiles(
                layers=options["layer"],
                max_zoom=options["max_zoom"],
                min_zoom=options["min_zoom"],
                unit=options["unit"],
                progress=options["verbosity"] > 0,
            )
        except ApiError as exc:
            raise CommandError(str(exc.detail)) from None
        for name, count in built.items():
            self.stdout.write(f"{name}: {count} tiles built")
