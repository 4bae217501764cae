"""Read replicas: web reads go to a replica, writes and transactions to the primary, and a writer reads its writes."""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest
from django.utils.functional import LazyObject, empty

# A caller who wrote carries this signed cookie (browsers) and a cache key (token clients, which may keep no
# cookies) for GEOGRID_READ_YOUR_WRITES_SECONDS; while either is there, their reads go to the primary.
PIN_COOKIE = "geogrid_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Who the caller is must never lag behind: a revoked token or a deactivated user is refused at once, a token
# or session made a moment ago works at once. These lookups are small and indexed, so the primary bears them.
PRIMARY_ONLY_MODELS = frozenset({"accounts.apitoken", "accounts.user", "sessions.session"})

# First words of statements that change data; reads (SELECT, SHOW, SET, transaction control) do not pin.
WRITE_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "CREATE", "ALTER", "DROP", "TRUNCATE"})


@dataclass
class RequestRouting:
    """Where the reads of the web request being served may go."""

    request: HttpRequest
    replica: str
    # The caller wrote within the last GEOGRID_READ_YOUR_WRITES_SECONDS (cookie or cache pin).
    pinned: bool
    # This request writes: a non-safe method, or a write seen while serving it. It pins the caller.
    wrote: bool
    # The user whose cache pin has been looked up, so that it is looked up once a request.
    checked_user_id: int | None = None

    @property
    def on_primary(self) -> bool:
        return self.pinned or self.wrote


_routing: ContextVar[RequestRouting | None] = ContextVar("geogrid_db_routing", default=None)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "GEOGRID_DATABASE_REPLICAS", []))


def pin_seconds() -> int:
    return int(settings.GEOGRID_READ_YOUR_WRITES_SECONDS)


def _pin_key(user_id: int) -> str:
    return f"geogrid:primary-until:{user_id}"


def statement_writes(sql: str) -> bool:
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return bool(words) and words[0].upper() in WRITE_STATEMENTS


def _known_user_id(request: HttpRequest) -> int | None:
    """The signed-in user if they are known already; never loads them (that would query from inside the router)."""
    user = request.__dict__.get("user")  # set lazily by AuthenticationMiddleware, for real by DRF's authentication
    if isinstance(user, LazyObject):
        user = user._wrapped
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def _pinned_by_cache(routing: RequestRouting) -> bool:
    user_id = _known_user_id(routing.request)
    if user_id is not None and user_id != routing.checked_user_id:
        routing.checked_user_id = user_id
        until = cache.get(_pin_key(user_id))
        routing.pinned = until is not None and until > time.time()
    return routing.pinned


def mark_written() -> None:
    """The request being served has written: its remaining reads, and its caller's next ones, go to the primary."""
    routing = _routing.get()
    if routing is not None:
        routing.wrote = True


class PrimaryReplicaRouter:
    """
    Reads go to a replica only inside a safe web request (GET, HEAD) of a caller who has not written in the
    last GEOGRID_READ_YOUR_WRITES_SECONDS, outside any transaction; everything else (writes, atomic blocks,
    select_for_update, management commands, background jobs, which read in order to write) uses the primary.
    """

    def db_for_read(self, model, **hints):
        routing = _routing.get()
        if routing is None or routing.on_primary or model._meta.label_lower in PRIMARY_ONLY_MODELS:
            return DEFAULT_DB_ALIAS
        # A transaction reads what it is about to write, and must see its own uncommitted rows.
        if connections[DEFAULT_DB_ALIAS].in_atomic_block or _pinned_by_cache(routing):
            return DEFAULT_DB_ALIAS
        return routing.replica

    def db_for_write(self, model, **hints):
        mark_written()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Every alias holds the same data: objects read from a replica may be linked to ones on the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class ReadYourWritesMiddleware:
    """
    Opens the routing of each web request (which replica, whether the caller is pinned to the primary) and,
    after a write, pins the caller for GEOGRID_READ_YOUR_WRITES_SECONDS. It wraps every middleware that reads
    or writes, so that a session saved on the way out counts as a write too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        replicas = replica_aliases()
        if not replicas:
            return self.get_response(request)
        routing = RequestRouting(
            request=request,
            replica=random.choice(replicas),
            pinned=self._pinned_by_cookie(request),
            wrote=request.method not in SAFE_METHODS,
        )
        token = _routing.set(routing)
        try:
            # Raw SQL bypasses the router: its writes are seen here.
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(self._watch):
                response = self.get_response(request)
            if routing.wrote:
                self._pin(request, response)
        finally:
            _routing.reset(token)
        return response

    @staticmethod
    def _watch(execute, sql, params, many, context):
        if statement_writes(sql):
            mark_written()
        return execute(sql, params, many, context)

    @staticmethod
    def _pinned_by_cookie(request) -> bool:
        return request.get_signed_cookie(PIN_COOKIE, default=None, salt=PIN_COOKIE, max_age=pin_seconds()) is not None

    @staticmethod
    def _pin(request, response) -> None:
        seconds = pin_seconds()
        response.set_signed_cookie(
            PIN_COOKIE, "1", salt=PIN_COOKIE, max_age=seconds, httponly=True, samesite="Lax", secure=request.is_secure()
        )
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            cache.set(_pin_key(user.pk), time.time() + seconds, seconds)
