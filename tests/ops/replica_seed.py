"""
Migrates and seeds the primary of the replica test (run as `python -m tests.ops.replica_seed` with DATABASE_URL
naming it): a small city, two grid workers with API tokens and one incident. Prints the tokens as JSON.
"""

import datetime as dt
import json

import django


def seed() -> dict[str, str]:
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from accounts.models import ApiToken
    from accounts.selectors import scope_for_user
    from accounts.services import token_create, user_create
    from boundaries.models import Generation, Level
    from core.scope import Scope
    from incidents.models import Category
    from incidents.services import incident_create
    from tests.conftest import X0, X1, XM, Y0, Y1, YM, box, make_unit

    generation = Generation.objects.create(description="replica test", active=True)
    for code, name, level, geom in (
        ("110100", "测试市", Level.CITY, box(X0, Y0, X1, Y1)),
        ("110101", "测试区", Level.DISTRICT, box(X0, Y0, X1, Y1)),
        ("110101001", "西街道", Level.STREET, box(X0, Y0, XM, Y1)),
        ("110101001001", "西南社区", Level.COMMUNITY, box(X0, Y0, XM, YM)),
        ("110101001001001", "西南社区第1网格", Level.GRID, box(X0, Y0, XM, YM)),
    ):
        make_unit(generation, code, name, level, geom)
    keys = {}
    for username in ("writer", "reader"):
        user = user_create(
            scope=Scope.everything(),
            username=username,
            password=None,
            roles=["grid_worker"],
            units=["110101001001"],
            validate_password=False,
        )
        token, keys[username] = token_create(user=user, name="replica test")
        # A token's first use records it (a write, which pins its user to the primary); recorded ahead here,
        # so that the reader's requests stay pure reads.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() + dt.timedelta(days=1))
    writer = user.__class__.objects.get(username="writer")
    incident_create(
        scope=scope_for_user(writer),
        actor=writer,
        title="seeded",
        description="路边有人占道经营。",
        category=Category.objects.get(code="E0401"),
        location=Point(116.385, 39.905, srid=4326),
        source="patrol",
    )
    return keys


if __name__ == "__main__":
    django.setup()
    # `manage.py migrate` in the same process as the seeding: one start of Django instead of two.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    print(json.dumps(seed()))
