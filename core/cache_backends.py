"""Redis as Django's cache, degrading to no cache while Redis cannot be reached instead of failing requests."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis.exceptions
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# After a failure, Redis is left alone this long: a down cache costs one failed connect per process and
# pause, not one per cache call.
PAUSE_SECONDS = 5.0
# Invalidations (deletes, version bumps) that could not reach Redis, replayed once it answers again;
# beyond this many, the oldest are dropped (their entries then expire by their time-outs).
MAX_PENDING = 10_000


class _Outage:
    """What a process knows about one Redis location: when to try it again and what it still owes it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.retry_at = 0.0
        self.pending: dict[tuple[str, str, int | None], int] = {}

    def down(self) -> bool:
        return time.monotonic() < self.retry_at


_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


class FaultTolerantRedisCache(RedisCache):
    """
    Django's Redis cache, except that a Redis that is down, restarting or too slow makes every call
    behave as a miss (reads find nothing, writes keep nothing), so pages, the API and tiles go on
    answering from the database. A cached entry is only ever a copy, so nothing is lost; what could
    be lost are invalidations (a scope forgotten, a tile version bumped) made during the outage, so
    those are remembered by the process and sent as soon as Redis answers again.
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        with _outages_lock:
            self._outage = _outages.setdefault(str(server), _Outage())

    # --- the guard --------------------------------------------------------------------------------

    def _call(self, call, *args, fallback=None, invalidation=None):
        outage = self._outage
        if outage.down():
            self._owe(invalidation)
            return fallback
        try:
            replayed = self._settle() if outage.pending else 0
            result = call(*args)
        except UNREACHABLE as exc:
            self._owe(invalidation)
            with outage.lock:
                first = outage.retry_at == 0.0
                outage.retry_at = time.monotonic() + PAUSE_SECONDS
            if first:
                logger.warning("Redis cache unreachable, serving without it: %s", exc)
            return fallback
        if outage.retry_at:
            with outage.lock:
                back, outage.retry_at = bool(outage.retry_at), 0.0
            if back:
                logger.warning("Redis cache reachable again; %s missed invalidations sent", replayed)
        return result

    def _owe(self, invalidation) -> None:
        if invalidation is None:
            return
        outage = self._outage
        with outage.lock:
            for entry in invalidation:
                outage.pending[entry] = outage.pending.get(entry, 0) + (entry[0] == "incr")
            while len(outage.pending) > MAX_PENDING:
                outage.pending.pop(next(iter(outage.pending)))

    def _settle(self) -> int:
        """Sends the invalidations Redis missed; raises (and keeps them) while it is still away."""
        outage = self._outage
        with outage.lock:
            owed = list(outage.pending.items())
        for (operation, key, version), count in owed:
            if operation == "delete":
                super().delete(key, version=version)
            else:
                # A missing entry (Redis restarted empty) has nothing left to keep current.
                with contextlib.suppress(ValueError):
                    super().incr(key, count, version=version)
            with outage.lock:
                outage.pending.pop((operation, key, version), None)
        return len(owed)

    # --- Django's cache API -------------------------------------------------------------------------

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().add, key, value, timeout, version, fallback=False)

    def get(self, key, default=None, version=None):
        return self._call(super().get, key, default, version, fallback=default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().touch, key, timeout, version, fallback=False)

    def delete(self, key, version=None):
        return self._call(super().delete, key, version, fallback=False, invalidation=[("delete", key, version)])

    def get_many(self, keys, version=None):
        return self._call(super().get_many, keys, version, fallback={})

    def has_key(self, key, version=None):
        return self._call(super().has_key, key, version, fallback=False)

    def incr(self, key, delta=1, version=None):
        missing = object()
        value = self._call(super().incr, key, delta, version, fallback=missing, invalidation=[("incr", key, version)])
        if value is missing:
            # What a missing key answers: callers bumping a version then set it, harmlessly, to nothing.
            raise ValueError(f"Key '{key}' not found (the cache is unreachable).")
        return value

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set_many, data, timeout, version, fallback=list(data))

    def delete_many(self, keys, version=None):
        keys = list(keys)
        return self._call(super().delete_many, keys, version, invalidation=[("delete", key, version) for key in keys])

    def clear(self):
        """
        Removes the cache's own keys. Django's clear() empties the whole Redis database, and Celery's
        queue (REDIS_URL serves both unless GEOGRID_CACHE_URL is set) would go with it.
        """
        return self._call(self._clear_own_keys, fallback=False)

    def _clear_own_keys(self) -> bool:
        client = self._cache.get_client(write=True)
        batch = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        return True
