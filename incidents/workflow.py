"""The incident state machine: every action, the statuses it starts from, where it leads, and who may take it."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from incidents.models import OPEN_STATUSES, Status


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: frozenset[str]
    target: str | None  # None: the status stays (supervise)
    permission: str
    # Who among those with the permission: "dispatch" needs capture scope over the unit handling the
    # case; "handle" needs to be its assignee, in its department, or to capture its unit; "view"
    # needs only to see it; "report" is the reporter's own evaluation, or staff on their behalf.
    actor: str
    needs: tuple[str, ...] = ()  # input fields the action requires


def _action(name, label, sources, target, permission, actor, needs=()):
    return Action(name, label, frozenset(sources), target, permission, actor, tuple(needs))


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        _action("accept", _("Accept"), [Status.REPORTED], Status.ACCEPTED, "incidents.accept_incident", "dispatch"),
        _action(
            "reject",
            _("Reject"),
            [Status.REPORTED],
            Status.REJECTED,
            "incidents.accept_incident",
            "dispatch",
            ["reason"],
        ),
        _action(
            "merge",
            _("Merge as duplicate"),
            [Status.REPORTED],
            Status.MERGED,
            "incidents.accept_incident",
            "dispatch",
            ["target"],
        ),
        _action(
            "dispatch",
            _("Dispatch"),
            [Status.ACCEPTED, Status.RETURNED, Status.ESCALATED],
            Status.DISPATCHED,
            "incidents.dispatch_incident",
            "dispatch",
        ),
        _action(
            "start", _("Start work"), [Status.DISPATCHED], Status.IN_PROGRESS, "incidents.handle_incident", "handle"
        ),
        _action(
            "return",
            _("Return to dispatcher"),
            [Status.DISPATCHED, Status.IN_PROGRESS],
            Status.RETURNED,
            "incidents.handle_incident",
            "handle",
            ["reason"],
        ),
        _action(
            "escalate",
            _("Escalate"),
            [Status.ACCEPTED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RETURNED],
            Status.ESCALATED,
            "incidents.dispatch_incident",
            "dispatch",
        ),
        _action(
            "resolve",
            _("Resolve"),
            [Status.IN_PROGRESS],
            Status.RESOLVED,
            "incidents.handle_incident",
            "handle",
            ["note"],
        ),
        _action(
            "evaluate",
            _("Record evaluation"),
            [Status.RESOLVED],
            Status.EVALUATED,
            "incidents.evaluate_incident",
            "report",
            ["satisfaction"],
        ),
        _action(
            "reopen",
            _("Reopen"),
            [Status.RESOLVED, Status.EVALUATED],
            Status.DISPATCHED,
            "incidents.dispatch_incident",
            "dispatch",
            ["reason"],
        ),
        _action(
            "close",
            _("Close"),
            [Status.RESOLVED, Status.EVALUATED],
            Status.CLOSED,
            "incidents.dispatch_incident",
            "dispatch",
        ),
        _action("supervise", _("Supervise"), OPEN_STATUSES, None, "incidents.supervise_incident", "view"),
    ]
}


def allowed_from(status: str) -> list[str]:
    """The actions that start from a status, whoever may take them."""
    return [name for name, action in ACTIONS.items() if status in action.sources]


# The deadline that runs in each status, by the category's hours for that step.
STEP_OF_STATUS = {
    Status.REPORTED: "accept_hours",
    Status.ACCEPTED: "dispatch_hours",
    Status.RETURNED: "dispatch_hours",
    Status.ESCALATED: "dispatch_hours",
    Status.DISPATCHED: "resolve_hours",
    Status.IN_PROGRESS: "resolve_hours",
}


def actor_may(scope, actor, incident, action: Action) -> bool:
    """Whether this caller, holding the action's permission, may take it on this incident."""
    actor_id = getattr(actor, "pk", None)
    if action.actor == "dispatch":
        return scope.captures(incident.assigned_unit_code)
    if action.actor == "handle":
        return bool(
            (incident.assignee_id and incident.assignee_id == actor_id)
            or (
                incident.assigned_department_id
                and scope.department_id == incident.assigned_department_id
                and (scope.sees(incident.assigned_unit_code) or scope.sees(incident.unit_code))
            )
            or scope.captures(incident.assigned_unit_code)
        )
    if action.actor == "report":
        return bool(
            (incident.reporter_user_id and incident.reporter_user_id == actor_id)
            or scope.captures(incident.assigned_unit_code)
            or scope.captures(incident.unit_code)
        )
    return scope.sees(incident.unit_code) or scope.sees(incident.assigned_unit_code)


def actions_for(scope, actor, incident) -> list[str]:
    """The actions this caller may take now (the buttons the dispatch desk shows)."""
    return [
        name
        for name, action in ACTIONS.items()
        if incident.status in action.sources
        and scope.has(action.permission)
        and actor_may(scope, actor, incident, action)
    ]
