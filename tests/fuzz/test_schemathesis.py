"""
Schemathesis against /api/schema/: every operation the schema lists, called by each role of the small city
(and by nobody), answers without a server error and as documented: status code, content type, body.

The schema is read from the application itself, in process, through its WSGI handler; requests run in the
test's transaction, on a small city with households, incidents, a draft generation, a broadcast and the rest,
so that path parameters can name records that exist as well as ones that do not.
"""

import io
import os

import pytest
import schemathesis
from django.core import signals
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from accounts.selectors import scope_for_user
from accounts.services import token_create, user_create
from assessment.models import Scheme
from boundaries.drafts import draft_open
from boundaries.models import Generation
from core.files import check_upload
from core.scope import Scope
from incidents import services as incident_services
from incidents.models import Attachment, Category
from messaging.services import broadcast_create
from residents.models import Resident
from residents.services import import_job_create
from tests.conftest import build_population, build_small_city
from tests.incidents.conftest import EAST_CELL, WEST_CELL

# Examples per operation; every example is sent once per role below. A fixed seed keeps CI runs identical;
# GEOGRID_FUZZ_EXAMPLES and GEOGRID_FUZZ_SEED make a longer or another search by hand.
EXAMPLES = int(os.environ.get("GEOGRID_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("GEOGRID_FUZZ_SEED", "20240601"))
CONFIG = schemathesis.Config.from_dict({"seed": SEED, "generation": {"deterministic": True}})
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)

# The weakest first: an example that deletes or activates something does it as late as possible.
ROLES = [
    ("anonymous", None),
    ("viewer", "110101002"),
    ("grid_worker", "110101001001"),
    ("department_staff", "110101"),
    ("dispatcher", "110101001"),
    ("street_leader", "110101001"),
    ("planner", "110101001"),
    ("system_admin", "110100"),
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


def _build_world() -> dict:
    """Staff of every role and one record of each kind a path can name; `ids` lists names that exist."""
    build_small_city(Generation.objects.create(description="test", active=True))
    population = build_population()
    everything = Scope.everything()
    users = {
        role: user_create(scope=everything, username=role, password=None, roles=[role], units=[unit])
        for role, unit in ROLES
        if unit
    }
    admin, worker, dispatcher = users["system_admin"], users["grid_worker"], users["dispatcher"]

    def report(user, point):
        return incident_services.incident_create(
            scope=scope_for_user(user),
            actor=user,
            title="占道经营",
            description="路边有人占道经营。",
            category=Category.objects.get(code="E0401"),
            location=point,
            source="patrol",
        )

    west, dispatched, east = report(worker, WEST_CELL), report(worker, WEST_CELL), report(admin, EAST_CELL)
    for action in ("accept", "dispatch"):
        incident_services.incident_transition(
            scope=scope_for_user(dispatcher), actor=dispatcher, incident_id=dispatched.pk, action=action
        )
    incident_services.attachment_add(incident=west, upload=check_upload(_png()), actor=worker)
    log = incident_services.visit_log_create(
        scope=scope_for_user(worker),
        worker=worker,
        visited_at=timezone.now(),
        location=WEST_CELL,
        discussion="入户走访",
    )
    draft = draft_open(scope=scope_for_user(users["planner"]), actor=users["planner"], description="fuzz")
    broadcast = broadcast_create(
        scope=everything, actor=admin, text="防汛通知", tag="elderly_alone", unit_code="110101001"
    )
    job = import_job_create(
        scope=everything,
        actor=admin,
        upload=SimpleUploadedFile("households.csv", "ref,address\nH9,西南路9号\n".encode()),
        options={},
    )
    token, _key = token_create(user=admin, name="spare")
    ids = {
        "token": [west.attachments.get().token],
        "draft_id": [draft.pk],
        "household_id": [h.pk for h in population.values()],
        "resident_id": list(Resident.objects.values_list("pk", flat=True)[:3]),
        "incident_id": [west.pk, dispatched.pk, east.pk],
        "log_id": [log.pk],
        "job_id": [job.pk],
        "code": ["110101", "110101001", "110101001001001", "110101002001002"],
        "user_id": [admin.pk, users["viewer"].pk],
        "scheme_id": list(Scheme.objects.values_list("pk", flat=True)[:2]),
        "broadcast_id": [broadcast.pk],
        "token_key": [token.token_key],
        "layer": ["units", "households", "incidents"],
    }
    return {"users": users, "ids": ids}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """
    The world is built once for the module, in a transaction rolled back at its end; each test runs in a
    savepoint inside it (pytest-django's `db`), so what one operation deletes or activates is back for the next.
    """
    files = tmp_path_factory.mktemp("fuzz")
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=str(files / "media"), GEOGRID_PRIVATE_ROOT=str(files / "private")),
        pytest.MonkeyPatch.context() as patch,
        transaction.atomic(),
    ):
        # The field took its storage when the model was defined: photos go to the temporary folder this way.
        patch.setattr(Attachment._meta.get_field("file"), "storage", FileSystemStorage(location=files / "private"))
        yield _build_world()
        transaction.set_rollback(True)


@pytest.fixture
def in_process_requests(db):
    """
    Requests through the WSGI handler share the test's connection and transaction: Django must not close
    that connection at the start or end of a request (its own test client disconnects the same handler).
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _authorization(user) -> dict:
    # A token per request: an example may revoke the token it was sent with (logout, DELETE /tokens/).
    if user is None:
        return {}
    _token, key = token_create(user=user, name="fuzz")
    return {"Authorization": f"Token {key}"}


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case, data, world, in_process_requests):
    # Half the time a valid path names a record that exists, so the operation gets past its lookup (a path
    # generated invalid on purpose stays as it is: it is there to be refused).
    path_is_valid = case.meta is None or not case.meta.is_negative_at(ParameterLocation.PATH)
    for name in (case.path_parameters or {}) if path_is_valid else ():
        known = world["ids"].get(name)
        if known and data.draw(st.booleans(), label=f"known {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
    for role, _unit in ROLES:
        headers = _authorization(world["users"].get(role))
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
    ApiToken.objects.filter(name="fuzz").delete()
