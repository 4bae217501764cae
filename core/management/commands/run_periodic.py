"""Runs GeoGrid's periodic jobs in a loop, for deployments without Celery beat (the embedded default)."""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Run the periodic jobs (GEOGRID_PERIODIC_JOBS) every so many seconds until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and stop")

    def handle(self, *args, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        last_run: dict[str, float] = {}
        while not stopping:
            for path, every in settings.GEOGRID_PERIODIC_JOBS.items():
                if options["once"] or time.monotonic() - last_run.get(path, -every) >= every:
                    last_run[path] = time.monotonic()
                    if not connection.in_atomic_block:  # a long-lived loop must not keep a dead connection
                        close_old_connections()
                    try:
                        result = import_string(path)()
                    except Exception as exc:  # one failing job must not stop the others
                        self.stderr.write(f"{path} failed: {exc!r}")
                    else:
                        self.stdout.write(f"{path}: {result}")
            if options["once"]:
                return
            time.sleep(1)
