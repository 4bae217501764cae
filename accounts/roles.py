"""The roles of GeoGrid: each a documented set of permissions, kept as a Django group of the same name."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from boundaries.models import Level


@dataclass(frozen=True)
class Role:
    name: str  # the group's name, stable
    label: str
    description: str
    permissions: tuple[str, ...]  # "app_label.codename"
    binding_kind: str = "view"  # the kind of binding the role normally gets
    binding_levels: tuple[int, ...] = field(default_factory=tuple)  # levels it is bound at; empty: any
    is_global: bool = False  # sees and changes everything, whatever its bindings


VIEW_UNITS = "boundaries.view_gridunit"
PERSONAL_DATA = "accounts.view_personal_data"
MANAGE_USERS = "accounts.manage_users"
VIEW_KPI = "assessment.view_kpivalue"
VIEW_BASIC = ("residents.view_household", "residents.view_resident", "residents.view_building")
EDIT_BASIC = (
    "residents.add_household",
    "residents.change_household",
    "residents.delete_household",
    "residents.add_resident",
    "residents.change_resident",
    "residents.delete_resident",
    "residents.import_household",
)
EXPORT_BASIC = ("residents.export_household",)
VIEW_CASES = ("incidents.view_incident", "incidents.view_visitlog")
REPORT_CASE = "incidents.add_incident"
HANDLE_CASES = ("incidents.handle_incident",)
DISPATCH_CASES = (
    REPORT_CASE,
    "incidents.accept_incident",
    "incidents.dispatch_incident",
    "incidents.evaluate_incident",
)
_LEADER = (
    VIEW_UNITS,
    MANAGE_USERS,
    *VIEW_BASIC,
    *EXPORT_BASIC,
    *VIEW_CASES,
    "incidents.supervise_incident",
    "incidents.export_incident",
    VIEW_KPI,
)

ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role(
            "system_admin",
            _("System administrator"),
            _("Runs the platform: all permissions everywhere, users, roles and the audit log."),
            permissions=("*",),
            binding_kind="capture",
            is_global=True,
        ),
        Role(
            "city_leader",
            _("City leader"),
            _("Views and supervises the whole city."),
            permissions=_LEADER,
            binding_levels=(Level.CITY,),
        ),
        Role(
            "district_leader",
            _("District leader"),
            _("Views and supervises a district."),
            permissions=_LEADER,
            binding_levels=(Level.DISTRICT,),
        ),
        Role(
            "street_leader",
            _("Street leader"),
            _("Views and supervises a street and all its communities."),
            permissions=_LEADER,
            binding_levels=(Level.STREET,),
        ),
        Role(
            "community_leader",
            _("Community leader"),
            _("Views and supervises a community and its grid cells, with residents' contact details."),
            permissions=(*_LEADER, PERSONAL_DATA),
            binding_levels=(Level.COMMUNITY,),
        ),
        Role(
            "dispatcher",
            _("Dispatcher"),
            _("Accepts, routes and follows incidents at their level; sees reporters' contact details."),
            permissions=(VIEW_UNITS, PERSONAL_DATA, *VIEW_BASIC, *VIEW_CASES, *DISPATCH_CASES, VIEW_KPI),
            binding_kind="capture",
        ),
        Role(
            "department_staff",
            _("Department staff"),
            _("Staff of a functional department: the incidents assigned to the department in their jurisdiction."),
            permissions=(VIEW_UNITS, *VIEW_BASIC, *VIEW_CASES, *HANDLE_CASES),
        ),
        Role(
            "grid_worker",
            _("Grid worker"),
            _("Field staff of their own grid cells: households, visits and incidents there."),
            permissions=(
                VIEW_UNITS,
                PERSONAL_DATA,
                *VIEW_BASIC,
                *EDIT_BASIC,
                *VIEW_CASES,
                REPORT_CASE,
                *HANDLE_CASES,
                "incidents.add_visitlog",
                VIEW_KPI,
            ),
            binding_kind="capture",
            binding_levels=(Level.GRID, Level.COMMUNITY),
        ),
        Role(
            "planner",
            _("Planner"),
            _("Redraws grid boundaries in their jurisdiction: drafts, validation and activation."),
            permissions=(VIEW_UNITS, "boundaries.edit_boundaries", *VIEW_BASIC, *VIEW_CASES),
            binding_kind="capture",
        ),
        Role(
            "viewer",
            _("Viewer"),
            _("Reads the map and statistics of their jurisdiction; personal data stays masked."),
            permissions=(VIEW_UNITS, *VIEW_BASIC, *VIEW_CASES, VIEW_KPI),
        ),
    ]
}
