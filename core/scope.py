"""The caller's scope: which grid units, and so which records, a user may see and change."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.db.models import Q


def subtree_prefix(code: str) -> str:
    """The code prefix every unit under `code` (and the unit itself) starts with."""
    # A city's districts share only its first four digits (110100 -> 110101); below that a child's
    # code extends its parent's.
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code


def _minimal(prefixes) -> frozenset[str]:
    """Drops prefixes already covered by a shorter one (a street inside a bound district)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(other) for other in kept):
            kept.append(prefix)
    return frozenset(kept)


@dataclass(frozen=True)
class Scope:
    """
    What one caller may reach. A user bound to a unit reaches the unit's whole subtree. View scope
    (where records may be read) and capture scope (where they may be created and changed) are kept
    apart, as in DHIS2: every binding gives view, capture bindings also give capture. Units are named
    by code prefixes, so the same test serves units, households, incidents and anything else that
    stores the code of its grid cell.
    """

    user_id: int | None = None
    is_global: bool = False
    view_prefixes: frozenset[str] = field(default_factory=frozenset)
    capture_prefixes: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    # Department staff see only the incidents assigned to their department (within their units).
    department_only: bool = False
    bound_codes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        user_id,
        view_codes=(),
        capture_codes=(),
        permissions=(),
        department_id=None,
        is_global=False,
        department_only=False,
    ):
        capture = _minimal(subtree_prefix(code) for code in capture_codes)
        view = _minimal([subtree_prefix(code) for code in view_codes] + list(capture))
        return cls(
            user_id=user_id,
            is_global=is_global,
            view_prefixes=view,
            capture_prefixes=capture,
            permissions=frozenset(permissions),
            department_id=department_id,
            department_only=department_only and department_id is not None,
            bound_codes=tuple(sorted(set(view_codes) | set(capture_codes))),
        )

    @classmethod
    def everything(cls) -> Scope:
        """The scope of the system itself (management commands, periodic jobs)."""
        return cls(is_global=True, permissions=frozenset({"*"}))

    @classmethod
    def nothing(cls) -> Scope:
        return cls()

    def has(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions

    def sees(self, code: str | None) -> bool:
        return bool(code) and (self.is_global or any(code.startswith(p) for p in self.view_prefixes))

    def captures(self, code: str | None) -> bool:
        return bool(code) and (self.is_global or any(code.startswith(p) for p in self.capture_prefixes))

    def q(self, field: str = "code", *, capture: bool = False) -> Q:
        """A filter keeping the rows whose `field` (a unit code) lies in the scope."""
        if self.is_global:
            return Q()
        prefixes = self.capture_prefixes if capture else self.view_prefixes
        if not prefixes:
            return Q(pk__in=[])
        condition = Q()
        for prefix in sorted(prefixes):
            condition |= Q(**{f"{field}__startswith": prefix})
        return condition

    @property
    def cache_key(self) -> str:
        """Equal for callers who see exactly the same things (used to share cached tiles)."""
        if self.is_global:
            return "global"
        raw = "|".join(sorted(self.view_prefixes)) + "#" + str(self.department_id if self.department_only else "")
        return hashlib.sha256(raw.encode()).hexdigest()[:16]
