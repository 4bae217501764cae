"""Background work of the tile server: building the low-zoom tiles ahead."""

from celery import shared_task

from jobs.services import task_lock
from tiles.prerender import prerender_tiles

# Seconds before a build asked for while another runs is tried again (the data may have changed since).
BUSY_RETRY_SECONDS = 30


@shared_task(bind=True)
def prerender_tiles_task(self, layers: list[str], max_zoom: int, unit: str | None = None) -> dict[str, int]:
    # Building twice only writes the same tiles again; the lock keeps two workers from doing it at once.
    with task_lock("tiles-prerender", unit or "") as mine:
        if not mine:
            raise self.retry(countdown=BUSY_RETRY_SECONDS)
        return prerender_tiles(layers=layers, max_zoom=max_zoom, unit=unit)
