"""Writing incidents: intake, routing, deadlines, the workflow's transitions, escalation, notifications, visit logs."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from accounts.models import Department, UnitBinding, User
from accounts.selectors import scope_for_user
from accounts.services import audit_event
from boundaries.models import Level
from boundaries.selectors import ancestor_codes, generation_active, point_units, units_for_point
from core.errors import ApiError
from core.files import check_upload
from core.scope import Scope, subtree_prefix
from incidents.models import (
    FINAL_STATUSES,
    Attachment,
    Category,
    Incident,
    IncidentEvent,
    Notification,
    RoutingRule,
    Status,
    VisitLog,
)
from incidents.workflow import ACTIONS, STEP_OF_STATUS, actor_may, allowed_from
from layers.hexagons import cell_for, hexagons_ensure

LEADER_ROLES = ("city_leader", "district_leader", "street_leader", "community_leader")


@dataclass(frozen=True)
class RoutingDecision:
    unit_code: str
    department: Department | None
    basis: str
    rule: RoutingRule | None


def unit_at_level(code: str, level: int) -> str:
    """The ancestor (or the unit itself) of a unit code at a level of the hierarchy."""
    chain = [*ancestor_codes(code), code]
    by_level = {_level_of(c): c for c in chain}
    if level in by_level:
        return by_level[level]
    # The point lies in no unit of that level (a gap in the grid): the deepest unit above it.
    return max((c for lvl, c in by_level.items() if lvl < level), key=len, default=code)


def _level_of(code: str) -> int:
    if len(code) == 6:
        return Level.CITY if code.endswith("00") else Level.DISTRICT
    return {9: Level.STREET, 12: Level.COMMUNITY, 15: Level.GRID}[len(code)]


def route(*, category: Category, unit_code: str) -> RoutingDecision:
    """
    The unit and department responsible for a case of this category at this place: the most
    specific active rule (the minor class, then its major class, then its family, then any; a
    deeper `under` first; then precedence). Components are owned first by their department,
    events first by their locality; the rule's basis says which, and the department falls back to
    the category's default.
    """
    major = category.parent
    rules = (
        RoutingRule.objects.filter(active=True)
        .filter(Q(category=category) | Q(category=major) | Q(category__isnull=True, family__in=[category.family, ""]))
        .select_related("department")
    )
    best, best_key = None, None
    for rule in rules:
        if rule.under and not unit_code.startswith(subtree_prefix(rule.under)):
            continue
        specificity = (
            3
            if rule.category_id == category.pk
            else 2
            if major and rule.category_id == major.pk
            else (1 if rule.family else 0)
        )
        key = (specificity, len(rule.under), rule.priority, -rule.pk)
        if best_key is None or key > best_key:
            best, best_key = rule, key
    default_department = category.default_department or (major.default_department if major else None)
    if best is None:
        level = Level.COMMUNITY if category.family == Category.Family.EVENT else Level.STREET
        basis = RoutingRule.Basis.LOCALITY if category.family == Category.Family.EVENT else RoutingRule.Basis.OWNER
        return RoutingDecision(unit_at_level(unit_code, level), default_department, basis, None)
    return RoutingDecision(
        unit_at_level(unit_code, best.level), best.department or default_department, best.basis, best
    )


def _hours(category: Category, step: str) -> float:
    value = getattr(category, step)
    if value is None and category.parent_id:
        value = getattr(category.parent, step)
    return float(value or 24)


def _due(incident: Incident, status: str, since: dt.datetime) -> dt.datetime | None:
    step = STEP_OF_STATUS.get(status)
    return since + dt.timedelta(hours=_hours(incident.category, step)) if step else None


def _number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('incidents_case_number')")
        return f"{cursor.fetchone()[0]:08d}"


def _event(incident, action, actor, *, from_status="", to_status="", note="", at=None, **data) -> IncidentEvent:
    return IncidentEvent.objects.create(
        incident=incident,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor if getattr(actor, "pk", None) else None,
        at=at or timezone.now(),
        note=note,
        data=data,
    )


@transaction.atomic
def incident_create(
    *,
    scope: Scope,
    actor: User | None,
    title: str,
    description: str,
    category: Category,
    location: Point,
    source: str,
    address: str = "",
    priority: str | None = None,
    reporter_resident=None,
    reporter_name: str = "",
    reporter_phone: str = "",
    files=(),
    visit_log: VisitLog | None = None,
    reported_at: dt.datetime | None = None,
    external_token: str = "",
) -> Incident:
    """
    Takes in a case: its point fixes the cell (it must lie inside the city and, for staff, inside
    their capture scope), its category routes it and sets its first deadline, and the reporter is
    told the case number.
    """
    if not description.strip():
        raise ValidationError({"description": [_("Describe the problem.")]})
    if not category.active or category.parent_id is None:
        raise ValidationError({"category": [_("Choose an active minor class.")]})
    generation = generation_active()
    chain = units_for_point(point=location, generation=generation).chain if generation else []
    if not chain:
        raise ValidationError({"location": [_("The point lies outside the city.")]})
    unit_code = chain[-1].code
    grid_code = unit_code if chain[-1].level == Level.GRID else ""
    if not scope.captures(unit_code):
        raise ValidationError({"location": [_("The point lies outside your jurisdiction.")]})
    checked = [check_upload(f) for f in files]
    decision = route(category=category, unit_code=unit_code)
    now = reported_at or timezone.now()
    incident = Incident(
        number=_number(),
        title=title.strip()[:200] or description.strip()[:60],
        description=description.strip(),
        category=category,
        source=source,
        priority=priority or category.default_priority,
        location=location,
        address=address,
        grid_code=grid_code,
        unit_code=unit_code,
        generation=generation,
        reporter_user=actor if getattr(actor, "pk", None) else None,
        reporter_resident=reporter_resident,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        assigned_unit_code=decision.unit_code,
        assigned_department=decision.department,
        reported_at=now,
        visit_log=visit_log,
        external_token=external_token or secrets.token_hex(8),
        h3=cell_for(location.x, location.y),
    )
    incident.due_at = _due(incident, Status.REPORTED, now)
    incident.save()
    hexagons_ensure([incident.h3])
    event = _event(
        incident,
        "report",
        actor,
        to_status=Status.REPORTED,
        at=now,
        source=source,
        routed_to=decision.unit_code,
        department=getattr(decision.department, "code", None),
        basis=decision.basis,
    )
    for upload in checked:
        attachment_add(incident=incident, event=event, upload=upload, actor=actor)
    return incident


def _check_actor(scope: Scope, actor, incident: Incident, action) -> None:
    if not scope.has(action.permission):
        raise PermissionDenied(_("Your role may not do this."))
    if not actor_may(scope, actor, incident, action):
        raise PermissionDenied(_("This incident is not yours to %(action)s.") % {"action": str(action.label).lower()})


def _conflict(message, incident: Incident):
    return ApiError(
        message,
        code="conflict",
        status_code=409,
        fields={
            "status": [incident.status],
            "version": [str(incident.version)],
            "allowed": allowed_from(incident.status),
        },
    )


@transaction.atomic
def incident_transition(
    *,
    scope: Scope,
    actor,
    incident_id: int,
    action: str,
    version: int | None = None,
    note: str = "",
    reason: str = "",
    target: Incident | None = None,
    unit_code: str | None = None,
    department: Department | None = None,
    assignee: User | None = None,
    satisfaction: int | None = None,
    files=(),
    now: dt.datetime | None = None,
) -> Incident:
    """
    Moves an incident by one action of the workflow. The row is locked first, so of two people
    acting at once one wins and the other is refused with 409 and the current status (as is a
    stale `version`, or an action the status does not allow); nothing is half-written.
    """
    if action not in ACTIONS:
        raise ValidationError({"action": [_("Unknown action %(name)s.") % {"name": action}]})
    spec = ACTIONS[action]
    incident = Incident.objects.select_for_update(of=("self",)).select_related("category__parent").get(pk=incident_id)
    if version is not None and version != incident.version:
        raise _conflict(_("Someone changed this incident in the meantime; reload it."), incident)
    if incident.status not in spec.sources:
        raise _conflict(
            _("%(action)s is not possible while the incident is %(status)s.")
            % {"action": spec.label, "status": Status(incident.status).label},
            incident,
        )
    _check_actor(scope, actor, incident, spec)
    missing = [
        name
        for name in spec.needs
        if not {"reason": reason, "target": target, "note": note, "satisfaction": satisfaction}[name]
    ]
    if missing:
        raise ValidationError({name: [_("Required for this action.")] for name in missing})
    checked = [check_upload(f) for f in files]
    now = now or timezone.now()
    before = incident.status
    data: dict = {}
    notify_kinds: list[tuple[str, list]] = []

    if action == "accept":
        incident.accepted_at = now
    elif action == "reject":
        incident.closed_at = now
    elif action == "merge":
        if (
            target.pk == incident.pk
            or target.status in FINAL_STATUSES
            or not (scope.sees(target.unit_code) or scope.sees(target.assigned_unit_code))
        ):
            raise ValidationError({"target": [_("Merge into another open incident you can see.")]})
        incident.merged_into = target
        incident.closed_at = now
        data["target"] = target.number
        notify_kinds.append((Notification.Kind.MERGED, _reporters(incident) + _reporters(target)))
    elif action == "dispatch":
        unit_code = unit_code or incident.assigned_unit_code
        if not scope.captures(unit_code):
            raise ValidationError({"unit": [_("Dispatch only to units inside your jurisdiction.")]})
        if assignee is not None and not _may_handle(assignee, incident, unit_code, department):
            raise ValidationError({"assignee": [_("The assignee works neither in that unit nor in that department.")]})
        incident.assigned_unit_code = unit_code
        incident.assigned_department = department if department is not None else incident.assigned_department
        incident.assignee = assignee
        incident.dispatched_at = now
        data.update(
            unit=unit_code,
            department=getattr(incident.assigned_department, "code", None),
            assignee=getattr(assignee, "username", None),
        )
        notify_kinds.append((Notification.Kind.DISPATCHED, _handlers(incident)))
    elif action == "return":
        incident.assignee = None
    elif action == "escalate":
        higher = _parent_unit(incident.assigned_unit_code)
        if higher is None:
            raise _conflict(_("The incident is already handled by the city; it cannot go higher."), incident)
        data.update(**{"from": incident.assigned_unit_code, "to": higher})
        incident.assigned_unit_code = higher
        incident.escalation_level += 1
        incident.assignee = None
    elif action == "resolve":
        incident.resolved_at = now
    elif action == "evaluate":
        if not 1 <= int(satisfaction) <= 5:
            raise ValidationError({"satisfaction": [_("Satisfaction is a score from 1 to 5.")]})
        incident.satisfaction = int(satisfaction)
        incident.evaluation_comment = note
        incident.evaluated_at = now
        data["satisfaction"] = incident.satisfaction
    elif action == "reopen":
        incident.reopen_count += 1
        incident.resolved_at = incident.evaluated_at = None
        incident.satisfaction = None
        incident.dispatched_at = now
        notify_kinds.append((Notification.Kind.DISPATCHED, _handlers(incident)))
    elif action == "close":
        incident.closed_at = now
    elif action == "supervise":
        incident.supervised = True
        notify_kinds.append((Notification.Kind.SUPERVISED, _handlers(incident)))

    if spec.target is not None:
        incident.status = spec.target
        incident.due_at = _due(incident, spec.target, now)
        incident.overdue_notified_at = None
    incident.version += 1
    incident.save()
    event = _event(
        incident, action, actor, from_status=before, to_status=incident.status, note=note or reason, at=now, **data
    )
    for upload in checked:
        attachment_add(incident=incident, event=event, upload=upload, actor=actor)
    if spec.target is not None and spec.target != before:
        notify_kinds.append((Notification.Kind.STATUS, _reporters(incident)))
    for kind, recipients in notify_kinds:
        notify(kind=kind, incident=incident, recipients=recipients, actor=actor)
    audit_event(
        event="state_change",
        actor=actor if getattr(actor, "pk", None) else None,
        target=incident,
        data={"action": action, "from": before, "to": incident.status},
    )
    return incident


def _parent_unit(code: str) -> str | None:
    chain = ancestor_codes(code)
    return chain[-1] if chain else None


def _may_handle(user: User, incident: Incident, unit_code: str, department: Department | None) -> bool:
    """An assignee must reach the case, through the unit handling it or the place it lies in, and belong to
    its department when they belong to one at all."""
    user_scope = scope_for_user(user)
    reaches = user_scope.sees(unit_code) or user_scope.sees(incident.unit_code)
    return reaches and (department is None or user.department_id in (None, department.pk))


def _bound_above(unit_code: str) -> Q:
    """Bindings whose subtree contains the unit: the unit itself and every ancestor."""
    return Q(unit_code__in=[*ancestor_codes(unit_code), unit_code])


def _handlers(incident: Incident) -> list[User]:
    if incident.assignee_id:
        return [incident.assignee]
    users = User.objects.filter(
        is_active=True, bindings__in=UnitBinding.objects.filter(_bound_above(incident.assigned_unit_code))
    )
    if incident.assigned_department_id:
        users = users.filter(Q(department_id=incident.assigned_department_id) | Q(groups__name="dispatcher"))
    else:
        users = users.filter(groups__name="dispatcher")
    return list(users.distinct()[:50])


def _supervisors(incident: Incident) -> list[User]:
    return list(
        User.objects.filter(
            is_active=True,
            groups__name__in=LEADER_ROLES,
            bindings__in=UnitBinding.objects.filter(_bound_above(incident.assigned_unit_code)),
        ).distinct()[:50]
    )


def _reporters(incident: Incident) -> list:
    """Who reported the case: a staff account, a resident's phone, or an anonymous reporter's phone."""
    if incident.reporter_user_id:
        return [incident.reporter_user]
    phone = incident.reporter_phone or (incident.reporter_resident.phone if incident.reporter_resident_id else "")
    return [phone] if phone else []


MESSAGES = {
    Notification.Kind.DISPATCHED: lambda i: (
        _("Case %(number)s (%(title)s) has been dispatched to you.") % {"number": i.number, "title": i.title}
    ),
    Notification.Kind.OVERDUE: lambda i: (
        _("Case %(number)s (%(title)s) is overdue and was escalated to %(unit)s.")
        % {"number": i.number, "title": i.title, "unit": i.assigned_unit_code}
    ),
    Notification.Kind.STATUS: lambda i: (
        _("Your case %(number)s is now: %(status)s.") % {"number": i.number, "status": Status(i.status).label}
    ),
    Notification.Kind.MERGED: lambda i: (
        _("Case %(number)s was merged into case %(target)s; you will be told of its progress.")
        % {"number": i.number, "target": getattr(i.merged_into, "number", "")}
    ),
    Notification.Kind.SUPERVISED: lambda i: _("Case %(number)s is now under supervision.") % {"number": i.number},
}


def notify(
    *, kind: str, incident: Incident | None, recipients: list, actor=None, message: str | None = None
) -> list[Notification]:
    """One notification per recipient (a user, or a phone number), delivered by every configured channel."""
    text = message or MESSAGES[kind](incident)
    created = []
    for recipient in recipients:
        if isinstance(recipient, User) and getattr(actor, "pk", None) == recipient.pk:
            continue  # nobody needs telling what they just did
        notification = Notification.objects.create(
            recipient=recipient if isinstance(recipient, User) else None,
            phone="" if isinstance(recipient, User) else str(recipient),
            incident=incident,
            kind=kind,
            message=text,
        )
        created.append(notification)
    if created:
        transaction.on_commit(lambda: deliver([n.pk for n in created]))
    return created


def deliver(notification_ids: list[int]) -> None:
    channels = [import_string(path)() for path in settings.GEOGRID_NOTIFICATION_CHANNELS]
    for notification in Notification.objects.filter(pk__in=notification_ids).select_related("recipient"):
        for channel in channels:
            state = channel.deliver(notification)
            if state:
                notification.channels[channel.name] = state
        Notification.objects.filter(pk=notification.pk).update(channels=notification.channels)


def notification_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    notifications = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        notifications = notifications.filter(pk__in=ids)
    return notifications.update(read_at=timezone.now())


def escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """
    The periodic deadline job: every open incident past the deadline of its step goes one level up
    (grid -> community -> street -> district -> city) and its new supervisors are told. An incident
    already at the city stays there, and they are told once.
    """
    now = now or timezone.now()
    escalated = 0
    overdue = Incident.objects.filter(status__in=list(STEP_OF_STATUS), due_at__lt=now, overdue_notified_at__isnull=True)
    system = Scope.everything()
    for incident_id in overdue.values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            incident = Incident.objects.select_for_update().get(pk=incident_id)
            if incident.due_at is None or incident.due_at >= now or incident.overdue_notified_at is not None:
                continue
            higher = _parent_unit(incident.assigned_unit_code)
            if higher is not None and incident.status in ACTIONS["escalate"].sources:
                incident = incident_transition(
                    scope=system,
                    actor=None,
                    incident_id=incident.pk,
                    action="escalate",
                    note=_("Overdue: escalated automatically."),
                    now=now,
                )
                escalated += 1
            Incident.objects.filter(pk=incident.pk).update(overdue_notified_at=now)
            notify(kind=Notification.Kind.OVERDUE, incident=incident, recipients=_supervisors(incident))
    return escalated


def attachment_add(*, incident=None, event=None, visit_log=None, upload, actor=None) -> Attachment:
    """Stores a checked upload (see core.files.check_upload) in private storage."""
    attachment = Attachment(
        incident=incident,
        event=event,
        visit_log=visit_log,
        token=secrets.token_hex(16),
        extension=upload.extension,
        name=Path(upload.name).name[:200],
        content_type=upload.content_type,
        size=upload.size,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    attachment.file.save(f"{attachment.token}{upload.extension}", upload.file, save=False)
    attachment.save()
    return attachment


@transaction.atomic
def visit_log_create(
    *,
    scope: Scope,
    worker: User,
    visited_at: dt.datetime,
    location: Point,
    discussion: str,
    sentiment: str = "neutral",
    problems: str = "",
    households=(),
    residents=(),
    files=(),
) -> VisitLog:
    """A visit log at a point of the worker's capture scope; households and residents must be in scope too."""
    grid_code, unit_code = point_units(point=location)
    if not unit_code or not scope.captures(unit_code):
        raise ValidationError({"location": [_("The point lies outside your jurisdiction.")]})
    if visited_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"visited_at": [_("A visit cannot lie in the future.")]})
    outside = [h.pk for h in households if not scope.sees(h.unit_code)] + [
        r.pk for r in residents if not scope.sees(r.unit_code)
    ]
    if outside:
        raise ValidationError({"households": [_("Some households or residents lie outside your jurisdiction.")]})
    checked = [check_upload(f) for f in files]
    log = VisitLog.objects.create(
        worker=worker,
        visited_at=visited_at,
        location=location,
        grid_code=grid_code,
        unit_code=unit_code,
        discussion=discussion,
        sentiment=sentiment,
        problems=problems,
    )
    log.households.set(households)
    log.residents.set(residents)
    for upload in checked:
        attachment_add(visit_log=log, upload=upload, actor=worker)
    return log


def visit_log_to_incident(
    *, scope: Scope, actor: User, log: VisitLog, category: Category, title: str = "", description: str = ""
) -> Incident:
    """One action turns a problem found on a visit into an incident linked to the log."""
    if not scope.captures(log.unit_code):
        raise PermissionDenied(_("This visit log is outside your capture scope."))
    return incident_create(
        scope=scope,
        actor=actor,
        title=title or (log.problems or log.discussion)[:60],
        description=description or log.problems or log.discussion,
        category=category,
        location=log.location,
        source="visit_log",
        visit_log=log,
    )
