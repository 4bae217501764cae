"""App configuration of tiles: data changes bump the tile cache's versions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TilesConfig(AppConfig):
    name = "tiles"
    verbose_name = _("Vector tiles")

    def ready(self):
        from tiles import signals  # noqa: F401  (data versions)
