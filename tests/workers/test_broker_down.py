"""Redis down: requests still answer (no cache), and the work they ask for waits in the outbox till it is back."""

import json
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.test import Client

from assessment.models import KpiValue, RefreshState
from core import cache_backends
from jobs.models import OutboxTask
from jobs.services import outbox_flush
from messaging.models import Message
from tests.conftest import client_of
from tests.messaging.conftest import SECRET, signed_post
from tests.tiles.conftest import tile_of
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DELIVER = "messaging.tasks.message_deliver_task"
REFRESH = "assessment.tasks.refresh_kpis"


@pytest.fixture
def redis_cache(settings, broker):
    """Django's cache in Redis too, as deployed with REDIS_URL (base settings)."""
    cache_backends._outages.clear()
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache_backends.FaultTolerantRedisCache",
            "LOCATION": broker.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    yield broker
    cache_backends._outages.clear()


@pytest.fixture
def people(population, make_user, settings):
    settings.GEOGRID_SMS_SECRET = SECRET
    admin = make_user("system_admin", ["110100"], username="kpi-admin")
    leader = make_user("city_leader", ["110100"], username="leader", password="a-long-passphrase-42")
    return {"admin": client_of(admin), "leader": leader}


def tile_url(z: int = 14) -> str:
    x, y = tile_of(116.385, 39.905, z)
    return f"/tiles/units/{z}/{x}/{y}.mvt"


def test_with_redis_down_requests_answer_and_queued_work_is_done_once_it_is_back(
    redis_cache, start_workers, people, settings
):
    api = people["admin"]
    web = Client()
    web.force_login(people["leader"])
    assert api.get("/api/v1/units/").status_code == 200
    assert api.get(tile_url()).status_code == 200  # cached in Redis

    redis_cache.stop()

    # Reads: the API, a tile (built from the database), a page of the web application.
    assert api.get("/api/v1/units/").status_code == 200
    tile = api.get(tile_url())
    assert tile.status_code == 200 and tile.content
    assert api.get(tile_url(13)).status_code == 200
    assert web.get("/map/").status_code == 200
    # Writes that ask for background work: an SMS appeal (its reply is an SMS to send) and a KPI refresh.
    inbound = signed_post(web, "/sms/inbound/", {"id": "down-1", "from": "13812345678", "text": "楼道灯坏了"})
    assert inbound.status_code == 200, inbound.content
    refresh = api.post("/api/v1/kpi/refresh/?background=true")
    assert refresh.status_code == 202, refresh.content

    # Nothing lost: both tasks wait in the outbox, due now, with the broker's error.
    reply = Message.objects.get(direction=Message.Direction.OUT, in_reply_to__provider_id="down-1")
    assert reply.state == Message.State.QUEUED
    waiting = list(OutboxTask.objects.order_by("pk"))
    assert Counter(entry.name for entry in waiting) == Counter({DELIVER: 1, REFRESH: 1})
    assert all(entry.attempts >= 1 and entry.last_error for entry in waiting)
    assert waiting[0].args == [reply.pk]
    # The retry step while Redis is still down hands nothing over and keeps everything.
    assert outbox_flush().startswith("0 tasks handed over, 2 waiting")
    assert OutboxTask.objects.count() == 2

    redis_cache.start()
    assert outbox_flush().startswith("2 tasks handed over, 0 waiting")
    assert redis.Redis.from_url(redis_cache.url).llen("celery") == 2
    (worker,) = start_workers(1)

    def done():
        client = redis.Redis.from_url(redis_cache.url)
        return len(worker.succeeded()) >= 2 and client.llen("celery") == 0 and client.hlen("unacked") == 0

    wait_for(done, timeout=30, what="the worker to do the queued work", every=0.2)
    assert Counter(worker.succeeded()) == Counter({DELIVER: 1, REFRESH: 1})
    reply.refresh_from_db()
    assert reply.state == Message.State.SENT
    lines = Path(settings.GEOGRID_SMS_FILE_PATH, "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [str(reply.pk)]
    assert KpiValue.objects.exists() and RefreshState.objects.get(source="kpi").watermark is not None
    # Handed over once: a later run of the retry step finds nothing.
    assert outbox_flush().startswith("0 tasks handed over, 0 waiting")
