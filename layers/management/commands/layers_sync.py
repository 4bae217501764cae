"""Fills what the map layers derive from data written in bulk: the H3 cells of incidents."""

from django.core.management.base import BaseCommand

from layers.hexagons import hexagons_sync
from tiles.cache import bump


class Command(BaseCommand):
    help = "Fill the H3 cells of incidents loaded in bulk and store the hexagons they fall in."

    def handle(self, *args, **options):
        result = hexagons_sync()
        if result["incidents"]:
            bump("incidents")
        self.stdout.write(f"{result['incidents']} incidents placed in H3 cells, {result['hexagons']} hexagons stored.")
