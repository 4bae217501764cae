"""Users in scope, roles and bindings, and personal data masked unless the role may see it."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group

from accounts.roles import ROLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(small_city, make_user):
    return {
        "west": make_user("grid_worker", units=["110101001001001"], username="west-worker", phone="13812345678"),
        "east": make_user("grid_worker", units=["110101002001001"], username="east-worker", phone="13987654321"),
    }


def test_every_role_exists_as_a_group_with_its_permissions(db):
    groups = {group.name: group for group in Group.objects.prefetch_related("permissions__content_type")}
    assert set(ROLES) <= set(groups)
    for role in ROLES.values():
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in groups[role.name].permissions.all()}
        if "*" in role.permissions:
            assert "accounts.view_audit_log" in granted
        else:
            assert granted == set(role.permissions), role.name


def test_a_leader_without_the_permission_sees_phones_masked(client_for, staff):
    leader = client_for("street_leader", units=["110101001"])
    rows = leader.get("/api/v1/users/").json()["results"]
    west = next(r for r in rows if r["username"] == "west-worker")
    assert west["phone"] == "138****5678"
    assert not LogEntry.objects.filter(additional_data__event="personal_data_viewed").exists()


def test_a_role_with_the_permission_sees_them_and_the_view_is_audited(client_for, staff, make_user):
    admin = client_for("system_admin", units=["110100"])
    row = admin.get(f"/api/v1/users/{staff['west'].pk}/").json()
    assert row["phone"] == "13812345678"
    viewed = LogEntry.objects.get(additional_data__event="personal_data_viewed")
    assert viewed.actor == admin.user and viewed.additional_data["records"] == [str(staff["west"].pk)]


def test_users_outside_the_scope_are_404(client_for, staff):
    leader = client_for("street_leader", units=["110101001"])
    assert leader.get(f"/api/v1/users/{staff['east'].pk}/").status_code == 404
    assert leader.get(f"/api/v1/users/{staff['west'].pk}/").status_code == 200


def test_roles_without_manage_users_are_403(client_for, staff):
    assert client_for("grid_worker", units=["110101001001001"]).get("/api/v1/users/").status_code == 403


def test_creating_users_only_inside_ones_capture_scope(client_for, small_city):
    dispatcher = client_for("dispatcher", units=["110101001"])
    payload = {"username": "xx1", "password": "Quite-long-passw0rd", "roles": ["grid_worker"], "units": []}
    # A dispatcher lacks manage_users altogether.
    assert (
        dispatcher.post("/api/v1/users/", {**payload, "units": ["110101001001001"]}, format="json").status_code == 403
    )
    admin = client_for("system_admin", units=["110100"])
    created = admin.post("/api/v1/users/", {**payload, "units": ["110101001001001"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["units"][0]["level"] == "grid"


def test_a_leader_can_see_but_not_create_users(client_for, small_city):
    leader = client_for("street_leader", units=["110101001"])
    payload = {
        "username": "xx2",
        "password": "Quite-long-passw0rd",
        "roles": ["grid_worker"],
        "units": ["110101001001001"],
    }
    response = leader.post("/api/v1/users/", payload, format="json")
    assert response.status_code == 403  # a view binding gives no capture scope


def test_role_and_binding_level_must_match(client_for, small_city):
    admin = client_for("system_admin", units=["110100"])
    payload = {
        "username": "xx3",
        "password": "Quite-long-passw0rd",
        "roles": ["community_leader"],
        "units": ["110101001"],
    }
    response = admin.post("/api/v1/users/", payload, format="json")
    assert response.status_code == 400
    assert "units" in response.json()["error"]["fields"]
    payload["units"] = ["999999"]
    assert admin.post("/api/v1/users/", payload, format="json").status_code == 400


def test_only_administrators_create_administrators(client_for, small_city, make_user):
    from django.core.exceptions import PermissionDenied

    from accounts.selectors import scope_for_user
    from accounts.services import user_create

    district = make_user("district_leader", units=["110101"], binding_kind="capture")
    with pytest.raises(PermissionDenied):
        user_create(
            scope=scope_for_user(district), username="boss", password=None, roles=["system_admin"], units=["110101"]
        )


def test_the_admin_list_masks_phones(client, staff, make_user):
    viewer = make_user("street_leader", units=["110101001"], username="staffer")
    viewer.is_staff = True
    viewer.save()
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    page = client.get("/admin/accounts/user/").content.decode()
    assert "138****5678" in page and "13812345678" not in page
    detail = client.get(f"/admin/accounts/user/{staff['west'].pk}/change/").content.decode()
    assert "13812345678" not in detail
