"""Reading accounts: the caller's scope, users in scope, tokens, and the audit log."""

from __future__ import annotations

import datetime as dt

from auditlog.models import LogEntry
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from accounts.models import ApiToken, UnitBinding, User
from accounts.roles import ROLES
from core.scope import Scope

# A user's scope is cached (in Redis when configured, shared by every process) and forgotten as soon
# as their bindings, roles or account change (accounts.signals); the time-out bounds how long a
# process-local cache may lag behind a change made in another process.
SCOPE_CACHE_SECONDS = 60


SCOPE_GENERATION_KEY = "geogrid:scope-generation"


def _scope_key(user_id: int, generation: int | None = None) -> str:
    if generation is None:
        generation = cache.get(SCOPE_GENERATION_KEY, 0)
    return f"geogrid:scope:{generation}:{user_id}"


def scope_forget(user=None) -> None:
    """Drops a user's cached scope; without a user, every user's (after a role's permissions change)."""
    if user is None:
        try:
            cache.incr(SCOPE_GENERATION_KEY)
        except ValueError:
            cache.set(SCOPE_GENERATION_KEY, 1, None)
    else:
        cache.delete(_scope_key(user.pk))
    if user is not None and hasattr(user, "_geogrid_scope"):
        del user._geogrid_scope


def scope_for_user(user) -> Scope:
    """The scope of a user: their bindings, their roles' permissions, their department."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return Scope.nothing()
    cached = getattr(user, "_geogrid_scope", None)
    if cached is not None:
        return cached
    key = _scope_key(user.pk)
    cached = cache.get(key)
    if cached is not None:
        user._geogrid_scope = cached
        return cached
    bindings = list(UnitBinding.objects.filter(user=user).values_list("unit_code", "kind"))
    role_names = set(user.groups.values_list("name", flat=True))
    is_global = user.is_superuser or any(ROLES[name].is_global for name in role_names if name in ROLES)
    permissions = {"*"} if is_global else user.get_all_permissions()
    scope = Scope.build(
        user_id=user.pk,
        view_codes=[code for code, _kind in bindings],
        capture_codes=[code for code, kind in bindings if kind == UnitBinding.Kind.CAPTURE],
        permissions=permissions,
        department_id=user.department_id,
        is_global=is_global,
        # Department staff with no other role see only their department's incidents.
        department_only=bool(role_names) and role_names <= {"department_staff"},
    )
    user._geogrid_scope = scope
    cache.set(key, scope, SCOPE_CACHE_SECONDS)
    return scope


def user_list(*, scope: Scope, q: str | None = None, role: str | None = None) -> QuerySet[User]:
    """Users whose jurisdiction lies inside the caller's view scope (administrators see everyone)."""
    users = User.objects.all()
    if not scope.is_global:
        inside = UnitBinding.objects.filter(scope.q("unit_code"), user=OuterRef("pk"))
        users = users.filter(Exists(inside))
    if q:
        users = users.filter(Q(username__icontains=q) | Q(first_name__icontains=q) | Q(email__icontains=q))
    if role:
        users = users.filter(groups__name=role)
    return (
        users.select_related("department")
        .prefetch_related("groups", Prefetch("bindings", queryset=UnitBinding.objects.order_by("unit_code")))
        .order_by("username")
    )


def user_get(*, scope: Scope, user_id: int) -> User | None:
    return user_list(scope=scope).filter(pk=user_id).first()


def token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created")


def audit_list(
    *,
    user_id: int | None = None,
    model: str | None = None,
    object_pk: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[LogEntry]:
    """The audit log, newest first. `action` is create / update / delete or an event name."""
    entries = LogEntry.objects.select_related("actor", "content_type")
    if user_id is not None:
        entries = entries.filter(actor_id=user_id)
    if model:
        app_label, _dot, model_name = model.partition(".")
        entries = entries.filter(content_type__app_label=app_label, content_type__model=model_name)
    if object_pk:
        entries = entries.filter(object_pk=object_pk)
    if action:
        plain = {"create": LogEntry.Action.CREATE, "update": LogEntry.Action.UPDATE, "delete": LogEntry.Action.DELETE}
        if action in plain:
            entries = entries.filter(action=plain[action])
        else:
            entries = entries.filter(action=LogEntry.Action.ACCESS, additional_data__event=action)
    if since:
        entries = entries.filter(timestamp__gte=since)
    if until:
        entries = entries.filter(timestamp__lt=until)
    return entries.order_by("-timestamp", "-id")


def audit_action_name(entry: LogEntry) -> str:
    if entry.action == LogEntry.Action.ACCESS:
        return (entry.additional_data or {}).get("event", "access")
    return {LogEntry.Action.CREATE: "create", LogEntry.Action.UPDATE: "update", LogEntry.Action.DELETE: "delete"}[
        entry.action
    ]


def scope_for_user_id(user_id: int, *, generation: int | None = None) -> Scope:
    """
    The scope of a user known only by id (the tile server's fast path): from the cache when it can.
    `generation` is the scope generation (SCOPE_GENERATION_KEY) when the caller already read it.
    """
    cached = cache.get(_scope_key(user_id, generation))
    if cached is not None:
        return cached
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return scope_for_user(user) if user else Scope.nothing()
