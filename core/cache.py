"""A small read-through cache for computed values keyed by anything JSON can write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

DEFAULT_SECONDS = 600


def cache_key(parts) -> str:
    raw = json.dumps(parts, default=str, sort_keys=True)
    return "geogrid:computed:" + hashlib.sha256(raw.encode()).hexdigest()


def cached(parts, compute: Callable[[], Any], seconds: int = DEFAULT_SECONDS):
    """The value stored under `parts`, computed and stored when missing."""
    key = cache_key(parts)
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value
