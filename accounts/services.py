"""Writing accounts: roles, users and their bindings, API tokens, and audit events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password as check_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, Department, UnitBinding, User
from accounts.roles import ROLES
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.personal import phone_validate
from core.scope import Scope


def roles_sync() -> None:
    """Creates or updates one group per role with exactly the role's permissions."""
    everything = list(Permission.objects.all())
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in Permission.objects.select_related("content_type")}
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.name)
        if "*" in role.permissions:
            group.permissions.set(everything)
            continue
        missing = [name for name in role.permissions if name not in by_name]
        if missing:
            raise LookupError(f"Role {role.name} names unknown permissions: {missing}")
        group.permissions.set([by_name[name] for name in role.permissions])


def _unit_for_binding(code: str) -> GridUnit:
    generation = generation_active()
    unit = None
    if generation is not None:
        unit = GridUnit.objects.filter(valid_at_q(generation), code=code).first()
    if unit is None:
        raise ValidationError({"units": [_("No grid unit with code %(code)s.") % {"code": code}]})
    return unit


@transaction.atomic
def user_create(
    *,
    scope: Scope,
    username: str,
    password: str | None,
    roles: Iterable[str],
    units: Iterable[str] = (),
    full_name: str = "",
    email: str = "",
    phone: str = "",
    department: Department | None = None,
    binding_kind: str | None = None,
    validate_password: bool = True,
) -> User:
    """
    A new user with roles and bindings. The caller may only bind units inside their own capture
    scope, and may not grant a role they could not hold themselves (system administrators only).
    """
    roles = list(roles)
    unknown = [name for name in roles if name not in ROLES]
    if unknown:
        raise ValidationError({"roles": [_("Unknown role: %(name)s.") % {"name": name} for name in unknown]})
    if any(ROLES[name].is_global for name in roles) and not scope.is_global:
        raise PermissionDenied(_("Only a system administrator may create system administrators."))
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": [_("This username is taken.")]})
    user = User(username=username, email=email, first_name=full_name, department=department)
    if phone:
        user.phone = phone_validate(phone)
    if password is None:
        user.set_unusable_password()
    else:
        if validate_password:
            try:
                check_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    kind = binding_kind or ("capture" if any(ROLES[name].binding_kind == "capture" for name in roles) else "view")
    for code in units:
        user_bind(scope=scope, user=user, unit_code=code, kind=kind, roles=roles)
    return user


def user_bind(*, scope: Scope, user: User, unit_code: str, kind: str = "view", roles=None) -> UnitBinding:
    """Binds the user to a unit (and so its subtree); the unit must lie in the caller's capture scope."""
    unit = _unit_for_binding(unit_code)
    if not scope.captures(unit.code):
        raise PermissionDenied(_("You may only bind users to units inside your own jurisdiction."))
    role_names = roles if roles is not None else list(user.groups.values_list("name", flat=True))
    for name in role_names:
        levels = ROLES[name].binding_levels if name in ROLES else ()
        if levels and unit.level not in levels:
            raise ValidationError(
                {
                    "units": [
                        _("A %(role)s is bound to a %(levels)s, not a %(level)s.")
                        % {
                            "role": ROLES[name].label,
                            "levels": " / ".join(str(Level(level).label) for level in levels),
                            "level": Level(unit.level).label,
                        }
                    ]
                }
            )
    binding, _created = UnitBinding.objects.update_or_create(user=user, unit_code=unit.code, defaults={"kind": kind})
    return binding


def token_create(*, user: User, name: str = "", expires_in: dt.timedelta | None = None) -> tuple[ApiToken, str]:
    """A new API token for the user; the key is returned once and only its digest is stored."""
    token, key = ApiToken.objects.create(user=user, expiry=expires_in, name=name)
    return token, key


def token_revoke(*, user: User, token_key: str) -> bool:
    """Revokes one of the user's own tokens (named by its displayed prefix); False if there is none."""
    from accounts.authentication import token_forget

    tokens = ApiToken.objects.filter(user=user, token_key=token_key)
    for digest in tokens.values_list("digest", flat=True):
        token_forget(digest)
    deleted, _rows = tokens.delete()
    return bool(deleted)


def token_touch(*, token: ApiToken) -> None:
    # At most one write a minute per token, so busy clients do not write on every request.
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


# Events recorded besides model changes (which django-auditlog records by itself).
AUDIT_EVENTS = (
    "login",
    "login_failed",
    "logout",
    "token_created",
    "token_revoked",
    "export",
    "personal_data_viewed",
    "state_change",
    "boundary_import",
    "import",
    "boundary_edit",
    "generation_activated",
    "generation_activation_refused",
    "open311_request",
)


def audit_event(
    *,
    event: str,
    actor: User | None = None,
    target=None,
    target_label: str | None = None,
    remote_addr: str | None = None,
    data: dict | None = None,
) -> LogEntry:
    """Appends an event to the audit log; `target` is the object concerned (the actor when omitted)."""
    if event not in AUDIT_EVENTS:
        raise ValueError(f"unknown audit event {event}")
    target = target if target is not None else actor
    # __class__, not type(): request.user is a lazy proxy whose type() is the proxy.
    model = target.__class__ if target is not None else User
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=str(getattr(target, "pk", "") or target_label or ""),
        object_id=getattr(target, "pk", None) if isinstance(getattr(target, "pk", None), int) else None,
        object_repr=target_label or (str(target) if target is not None else ""),
        action=LogEntry.Action.ACCESS,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_email=getattr(actor, "email", None) or None,
        remote_addr=remote_addr,
        additional_data={"event": event, **(data or {})},
        changes_text="",
    )
