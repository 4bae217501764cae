"""
Tile requests through a shorter middleware chain. A map view asks for dozens of tiles, and for a small
tile the middleware the pages need (static files, CSRF, messages, the audit context, sign-in lockouts,
HTML security policy) costs as much as a tenth of the tile's own query. Tile URLs answer GET only,
write nothing and send no HTML, so they pass through the middleware that concerns them and no other.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

TILE_PREFIX = "/tiles/"

# What tile requests skip, and why each does not concern them.
SKIPPED = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "serves static files, never under /tiles/",
    "core.security.ContentSecurityPolicyMiddleware": "adds its header to HTML only",
    "core.security.RequestSizeLimitMiddleware": "tile requests are GET; a body is never read",
    "django.middleware.common.CommonMiddleware": "redirects tile URLs never need; tiles set Content-Length",
    "django.middleware.csrf.CsrfViewMiddleware": "tile URLs take GET only and change nothing",
    "django.contrib.messages.middleware.MessageMiddleware": "tiles show no messages",
    "accounts.auth.AuditMiddleware": "tile requests write no audited records and skip its context already",
    "axes.middleware.AxesMiddleware": "guards signing in",
}


def tile_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path not in SKIPPED]


class TileHandler(WSGIHandler):
    """Django's WSGI handler with the middleware tile requests need (`tile_middleware`)."""

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = tile_middleware()
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class TileRouting:
    """The WSGI application: tile URLs to the TileHandler, everything else to Django's full stack."""

    def __init__(self, application, tiles: WSGIHandler | None = None):
        self.application = application
        self.tiles = tiles or TileHandler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(TILE_PREFIX):
            return self.tiles(environ, start_response)
        return self.application(environ, start_response)
