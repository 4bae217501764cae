"""WSGI entry point (gunicorn geogrid.wsgi): tile URLs take a shorter middleware chain (tiles.handler)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geogrid.settings.base")
django_application = get_wsgi_application()

from tiles.handler import TileRouting  # noqa: E402  (after Django is set up)

application = TileRouting(django_application)
