"""The tile cache: keys from layer, parameters, data version and the viewer's scope; versions bumped on change."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.cache import cache

SOURCES = ("boundaries", "households", "incidents", "kpi")


def version_key(source: str) -> str:
    return f"geogrid:tiles:version:{source}"


def version(source: str) -> int:
    return cache.get(version_key(source)) or 0


def bump(source: str) -> None:
    """Data under the tiles of this source changed: every tile that reads it is stale from now on."""
    key = version_key(source)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, None)


def tile_key(
    layer: str, z: int, x: int, y: int, params: dict, scope_key: str, sources: tuple[str, ...], read: dict | None = None
) -> str:
    """The tile's cache key; `read` holds the sources' versions when the caller fetched them already."""
    versions = [(read.get(version_key(s)) or 0) if read is not None else version(s) for s in sources]
    raw = json.dumps([layer, z, x, y, sorted(params.items()), scope_key, versions], default=str)
    return "geogrid:tile:" + hashlib.sha256(raw.encode()).hexdigest()


def get(key: str) -> bytes | None:
    return cache.get(key)


def put(key: str, tile: bytes, seconds: int | None = None) -> None:
    cache.set(key, tile, settings.GEOGRID_TILE_CACHE_SECONDS if seconds is None else seconds)
