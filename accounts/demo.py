"""The demo city's staff: one user per role, bound to real units of the demo."""

from boundaries.models import GridUnit, Level
from boundaries.selectors import generation_active, valid_at_q

# (username, role, full name, level of the unit bound, pick: which unit of that level, department)
DEMO_STAFF = [
    ("admin", "system_admin", "系统管理员", Level.CITY, 0, None),
    ("city_leader", "city_leader", "王建国", Level.CITY, 0, None),
    ("district_leader", "district_leader", "李红梅", Level.DISTRICT, 0, None),
    ("street_leader", "street_leader", "张志强", Level.STREET, 0, None),
    ("community_leader", "community_leader", "刘秀英", Level.COMMUNITY, 0, None),
    ("dispatcher", "dispatcher", "陈立新", Level.STREET, 0, None),
    ("department_staff", "department_staff", "杨帆", Level.DISTRICT, 0, "urban-management"),
    ("grid_worker", "grid_worker", "赵磊", Level.GRID, 0, None),
    ("planner", "planner", "孙晓东", Level.DISTRICT, 0, None),
    ("viewer", "viewer", "周敏", Level.STREET, 1, None),
]


def demo_password(username: str) -> str:
    # Demo only, printed by `make run` and listed in the README.
    return f"GeoGrid-{username.replace('_', '-')}-2024"


def demo_units() -> dict[int, list[str]]:
    """Codes per level of the active generation in code order; DEMO_STAFF picks from them."""
    generation = generation_active()
    codes: dict[int, list[str]] = {}
    for level, code in (
        GridUnit.objects.filter(valid_at_q(generation)).order_by("level", "code").values_list("level", "code")
    ):
        codes.setdefault(level, []).append(code)
    return codes
