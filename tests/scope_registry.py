"""
Every endpoint that returns records registers here; tests/test_scope_contract.py runs the same
checks against each: anonymous callers get 401/403, a caller with no jurisdiction sees nothing, a
caller bound to the west street of the small city sees exactly the west street's records, and the
east street's records answer 404 to them.

An entry names how to list (a URL and how to read ids from the answer) and, optionally, how to
open one record, plus `records(city)`: the ids expected in the west and in the east street for
the small city of tests/conftest.py (after its own `setup(city)`, if the records need creating).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

WEST, EAST = "110101001", "110101002"


@dataclass(frozen=True)
class ScopedEndpoint:
    name: str
    list_url: str | None
    ids: Callable[[object], list[str]]
    records: Callable[[dict], tuple[list[str], list[str]]]
    detail_url: Callable[[str], str] | None = None
    role: str = "viewer"
    setup: Callable[[dict], None] | None = None


def feature_ids(response) -> list[str]:
    return [str(feature["id"]) for feature in json.loads(response.content)["features"]]


def result_ids(key: str = "id"):
    def read(response) -> list[str]:
        return [str(row[key]) for row in response.json()["results"]]

    return read


def _units_in(city, prefix):
    return sorted(code for code in city if code.startswith(prefix))


ENDPOINTS = [
    ScopedEndpoint(
        name="units",
        list_url="/api/v1/units/",
        ids=feature_ids,
        records=lambda city: (_units_in(city, WEST), _units_in(city, EAST)),
        detail_url=lambda code: f"/api/v1/units/{code}/",
    ),
    ScopedEndpoint(
        name="unit children",
        list_url="/api/v1/units/110101001001/children/",
        ids=feature_ids,
        records=lambda city: (["110101001001001", "110101001001002"], []),
        detail_url=lambda code: f"/api/v1/units/{code}/children/",
    ),
    ScopedEndpoint(
        name="users",
        list_url="/api/v1/users/",
        ids=result_ids("username"),
        role="street_leader",
        records=lambda city: (["west-staff"], ["east-staff"]),
        setup=lambda city: _staff(),
    ),
]


def _staff() -> None:
    from accounts.services import user_create
    from core.scope import Scope

    for username, code in (("west-staff", "110101001001001"), ("east-staff", "110101002001001")):
        user_create(scope=Scope.everything(), username=username, password=None, roles=["grid_worker"], units=[code])
