"""Backs up the database and the uploaded files into a new directory (`make backup`)."""

from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Write a pg_dump of the database and archives of MEDIA_ROOT and GEOGRID_PRIVATE_ROOT into a new directory."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="directory to create (default: GEOGRID_BACKUP_ROOT/geogrid-<time>)")

    def handle(self, *args, **options):
        try:
            path = backup_create(destination=options["output"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backup written to {path}")
