"""Replaces the database and the uploaded files with those of a backup (`make restore BACKUP=path`)."""

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError

from core.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into the configured database and file directories. "
        "Stop the application first; what is replaced is kept beside it unless --drop-previous."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup", help="the backup's directory")
        parser.add_argument(
            "--drop-previous", action="store_true", help="drop the replaced database and files instead of keeping them"
        )

    def handle(self, *args, **options):
        try:
            result = backup_restore(source=options["backup"], drop_previous=options["drop_previous"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        # Cached tiles, scopes and tokens describe the replaced data.
        cache.clear()
        self.stdout.write(f"Restored {options['backup']} into the database {result.database}.")
        if result.previous_database:
            self.stdout.write(
                f"The replaced database is kept as {result.previous_database}; "
                f'drop it with DROP DATABASE "{result.previous_database}" once it is no longer needed.'
            )
        for path in result.previous_directories:
            self.stdout.write(f"The replaced files are kept in {path}.")
        if result.unapplied_migrations:
            self.stdout.write(
                f"The backup predates {result.unapplied_migrations} migration(s) of this code: run `make migrate`."
            )
