"""What the web pages need to know about the signed-in user: roles, jurisdiction, pages, map settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.roles import ROLES
from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q
from core.scope import Scope

# The pages of the application: (name, url name, label, permission needed)
PAGES = (
    ("dashboard", "web-dashboard", "Map", "boundaries.view_gridunit"),
    ("dispatch", "web-dispatch", "Dispatch desk", "incidents.view_incident"),
    ("field", "web-field", "Field", "residents.view_household"),
    ("plan", "web-plan", "Boundaries", "boundaries.edit_boundaries"),
    ("records", "web-records", "Household records", "residents.import_household"),
)


def role_names(user) -> list[str]:
    return sorted(name for name in user.groups.values_list("name", flat=True) if name in ROLES)


def jurisdiction(*, user, scope: Scope) -> list[dict]:
    """The user's top units (the city for global roles) with their names, levels and extents."""
    generation = generation_active()
    if generation is None:
        return []
    units = GridUnit.objects.filter(valid_at_q(generation))
    units = units.filter(parent_code__isnull=True) if scope.is_global else units.filter(code__in=scope.bound_codes)
    rows = list(units.order_by("level", "code").values("code", "name", "level"))
    extents = dict(units.values("code").annotate(extent=Extent("geom")).values_list("code", "extent"))
    for row in rows:
        row["bbox"] = list(extents.get(row["code"]) or ())
        row["level_name"] = str(Level(row["level"]).label)
    return rows


def landing_page(*, user, scope: Scope) -> str:
    """Where a user lands after signing in: dispatchers and department staff at the desk, grid
    workers in the field, planners at the boundaries, everyone else on the map."""
    roles = set(role_names(user))
    if roles & {"dispatcher", "department_staff"} and not roles & {"system_admin", "city_leader", "district_leader"}:
        return reverse("web-dispatch")
    if roles == {"grid_worker"}:
        return reverse("web-field")
    if roles == {"planner"}:
        return reverse("web-plan")
    return reverse("web-dashboard")


def pages_for(scope: Scope) -> list[dict]:
    return [
        {"name": name, "url": reverse(url_name), "label": _(label)}
        for name, url_name, label, permission in PAGES
        if scope.has(permission)
    ]


def app_context(*, request, scope: Scope, page: str) -> dict:
    """The template context every page shares, and the JSON the page's script starts from."""
    user = request.user
    roles = role_names(user)
    units = jurisdiction(user=user, scope=scope)
    boot = {
        "page": page,
        "user": {
            "username": user.username,
            "full_name": user.get_full_name() or user.username,
            "roles": roles,
        },
        "units": units,
        "permissions": sorted(scope.permissions),
        "basemap": {"url": settings.GEOGRID_BASEMAP_URL, "attribution": settings.GEOGRID_BASEMAP_ATTRIBUTION},
        "input_crs": settings.GEOGRID_INPUT_CRS,
        "refresh_seconds": settings.GEOGRID_WALL_REFRESH_SECONDS,
        # Named in tile URLs, so a proxy caching tiles per URL and credential keeps scopes apart (tiles.views).
        "tile_scope": scope.cache_key,
    }
    return {
        "page": page,
        "pages": pages_for(scope),
        "role_labels": [str(ROLES[name].label) for name in roles],
        "units": units,
        "boot": boot,
    }
