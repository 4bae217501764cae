"""Refreshes the planner's statistics of the database (ANALYZE), after bulk loads."""

from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = (
        "Run ANALYZE on the database, so that the planner knows the tables' sizes after a bulk load "
        "(where autovacuum is off or has not caught up yet)."
    )

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write("Statistics refreshed.")
