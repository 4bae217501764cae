"""The Redis cache degrading to no cache: misses while Redis is away, invalidations sent once it is back."""

import os
import signal

import pytest
import redis
from django.core.cache import cache

from accounts.selectors import scope_for_user, scope_forget
from core import cache_backends
from tests.workers.conftest import wait_for
from tiles import cache as tile_cache

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings, redis_server, monkeypatch):
    monkeypatch.setattr(cache_backends, "PAUSE_SECONDS", 0.2)
    cache_backends._outages.clear()
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache_backends.FaultTolerantRedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    yield redis_server
    cache_backends._outages.clear()


def test_with_redis_away_reads_miss_writes_keep_nothing_and_nothing_raises(redis_cache):
    cache.set("answer", 42)
    assert cache.get("answer") == 42
    redis_cache.stop()
    assert cache.get("answer") is None
    assert cache.get("answer", "default") == "default"
    assert cache.get_many(["answer"]) == {}
    assert cache.set("answer", 43) is None
    assert cache.add("other", 1) is False
    assert cache.get_or_set("computed", lambda: 7) == 7
    assert cache.has_key("answer") is False
    with pytest.raises(ValueError):
        cache.incr("counter")
    tile_cache.bump("incidents")  # as a save of an incident does: no error
    assert tile_cache.version("incidents") == 0


def test_invalidations_made_while_redis_hung_are_sent_when_it_answers(redis_cache, small_city, make_user):
    # A hung Redis (its process stopped) keeps its data, and answers nothing until the socket time-out.
    user = make_user("viewer", ["110101001"], username="moved")
    scope_for_user(user)  # cached
    tile_cache.bump("households")
    assert tile_cache.version("households") == 1
    os.kill(redis_cache.process.pid, signal.SIGSTOP)
    try:
        scope_forget(user)  # a binding changed: the cached scope must go
        tile_cache.bump("households")
        tile_cache.bump("households")
        assert tile_cache.version("households") == 0  # no cache: every tile is built afresh
    finally:
        os.kill(redis_cache.process.pid, signal.SIGCONT)
    raw = redis.Redis.from_url(redis_cache.url)
    assert raw.get(":1:geogrid:tiles:version:households") == b"1"  # not sent yet

    def version_sent():
        return tile_cache.version("households") == 3

    wait_for(version_sent, timeout=10, what="the missed bumps to be sent")
    assert not any(key.startswith(b":1:geogrid:scope:") for key in raw.scan_iter())
    assert cache_backends._outages[redis_cache.url].pending == {}


def test_clearing_the_cache_leaves_the_task_queue_in_the_same_redis(redis_cache):
    # Regression: Django's clear() empties the whole Redis database, and with it the tasks waiting there.
    raw = redis.Redis.from_url(redis_cache.url)
    raw.lpush("celery", b"a task message")
    cache.set("answer", 42)
    cache.clear()
    assert cache.get("answer") is None
    assert raw.llen("celery") == 1
