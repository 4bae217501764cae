"""GeoGrid: a map-driven platform for urban grid management."""

from geogrid.celery import app as celery_app

__all__ = ["celery_app"]
