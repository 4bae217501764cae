"""The web application's pages: server-rendered shells whose scripts talk to the API and the tiles."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from accounts.models import Department
from accounts.selectors import scope_for_user
from residents.vocabulary import blank_file_headers
from web.selectors import app_context, landing_page


def _page(request, page: str, template: str, permission: str, **extra):
    scope = scope_for_user(request.user)
    if not scope.has(permission):
        raise Http404
    context = app_context(request=request, scope=scope, page=page)
    context["boot"].update(extra)
    context.update(extra)
    return render(request, template, context)


def _departments() -> list[dict]:
    return list(Department.objects.order_by("name").values("code", "name"))


@login_required
@require_GET
def home(request):
    return redirect(landing_page(user=request.user, scope=scope_for_user(request.user)))


@login_required
@require_GET
def dashboard(request):
    return _page(
        request, "dashboard", "web/dashboard.html", "boundaries.view_gridunit", wall=bool(request.GET.get("wall"))
    )


@login_required
@require_GET
def dispatch(request):
    return _page(request, "dispatch", "web/dispatch.html", "incidents.view_incident", departments=_departments())


@login_required
@require_GET
def incident(request, incident_id: int):
    return _page(
        request,
        "dispatch",
        "web/incident.html",
        "incidents.view_incident",
        incident_id=incident_id,
        departments=_departments(),
    )


@login_required
@require_GET
def field(request):
    return _page(request, "field", "web/field.html", "residents.view_household")


@login_required
@require_GET
def plan(request):
    return _page(request, "plan", "web/plan.html", "boundaries.view_gridunit")


@login_required
@require_GET
def records(request):
    columns = blank_file_headers(chinese=(get_language() or "").startswith("zh"))
    return _page(request, "records", "web/records.html", "residents.import_household", import_columns=columns)
