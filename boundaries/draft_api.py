"""HTTP API of draft generations: open, edit, undo, check, preview the impact, activate, discard."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from accounts.auth import ScopedAPIView
from boundaries import checks, drafts
from boundaries.models import DraftEdit, Generation
from boundaries.selectors import generation_active

EDIT = drafts.EDIT
CONFLICT = OpenApiResponse(
    description=(
        "Not possible in the state of the drafts: not open any more, another one open, nothing to undo, "
        "or no code left for a new unit."
    )
)
OPERATIONS = [choice for choice, _label in DraftEdit.Operation.choices]


def edit_body(edit: DraftEdit) -> dict:
    return {
        "seq": edit.seq,
        "operation": edit.operation,
        "codes": edit.codes,
        "by": getattr(edit.actor, "username", None),
        "at": edit.created_at.isoformat() if edit.created_at else None,
    }


def generation_body(generation: Generation, *, edits: bool = False) -> dict:
    active = generation_active()
    if generation.active:
        state = "active"
    elif generation.activated_at is not None or (active and generation.pk < active.pk):
        state = "past"
    else:
        state = "draft"
    body = {
        "id": generation.pk,
        "description": generation.description,
        "state": state,
        "created_at": generation.created_at.isoformat(),
        "activated_at": generation.activated_at.isoformat() if generation.activated_at else None,
    }
    if edits:
        body["edits"] = [edit_body(e) for e in generation.edits.select_related("actor").order_by("seq")]
        body["changed_codes"] = drafts.draft_changed_codes(generation)
    return body


class DraftOpenSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, max_length=200, allow_blank=True)


class GenerationListApi(ScopedAPIView):
    """Every generation, newest first (history); POST opens a draft that starts as the active grid."""

    required_permission = "boundaries.view_gridunit"

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"results": [generation_body(g) for g in Generation.objects.order_by("-pk")]})

    @extend_schema(request=DraftOpenSerializer, responses={201: OpenApiTypes.OBJECT, 409: CONFLICT})
    def post(self, request):
        query = DraftOpenSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        description = query.validated_data.get("description", "")
        draft = drafts.draft_open(scope=self.scope, actor=request.user, description=description)
        return Response(generation_body(draft, edits=True), status=201)


class DraftDetailApi(ScopedAPIView):
    """A draft with its edits (who, when, what); DELETE discards it."""

    required_permission = EDIT

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, draft_id: int):
        return Response(generation_body(drafts.draft_get(draft_id), edits=True))

    @extend_schema(responses={204: None})
    def delete(self, request, draft_id: int):
        drafts.draft_discard(scope=self.scope, actor=request.user, draft=drafts.draft_get(draft_id))
        return Response(status=204)


class EditSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(choices=OPERATIONS)
    code = serializers.RegexField(r"^\d{6,15}$", required=False)
    codes = serializers.ListField(child=serializers.RegexField(r"^\d{6,15}$"), required=False, max_length=20)
    keep = serializers.RegexField(r"^\d{6,15}$", required=False)
    parent = serializers.RegexField(r"^\d{6,15}$", required=False)
    into = serializers.RegexField(r"^\d{6,15}$", required=False)
    name = serializers.CharField(required=False, max_length=100, allow_blank=True)
    geometry = serializers.JSONField(required=False)
    line = serializers.JSONField(required=False)

    REQUIRED = {
        "reshape": ("code", "geometry"),
        "split": ("code", "line"),
        "merge": ("codes",),
        "create": ("parent", "geometry"),
        "retire": ("code", "into"),
    }

    def validate(self, attrs):
        missing = [f for f in self.REQUIRED[attrs["operation"]] if attrs.get(f) in (None, "", [])]
        if missing:
            raise serializers.ValidationError({f: [_("Required for this operation.")] for f in missing})
        return attrs


class DraftEditApi(ScopedAPIView):
    """POST one edit: reshape (code, geometry), split (code, line), merge (codes, keep), create (parent,
    geometry, name), retire (code, into). Geometries are GeoJSON in WGS-84."""

    required_permission = EDIT

    @extend_schema(request=EditSerializer, responses={201: OpenApiTypes.OBJECT, 409: CONFLICT})
    def post(self, request, draft_id: int):
        draft = drafts.draft_get(draft_id)
        query = EditSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        common = {"scope": self.scope, "actor": request.user, "draft": draft}
        operation = data["operation"]
        if operation == "reshape":
            edit = drafts.draft_reshape(**common, code=data["code"], geometry=data["geometry"])
        elif operation == "split":
            edit = drafts.draft_split(**common, code=data["code"], line=data["line"])
        elif operation == "merge":
            edit = drafts.draft_merge(**common, codes=data["codes"], keep=data.get("keep"))
        elif operation == "create":
            edit = drafts.draft_create(
                **common, parent=data["parent"], geometry=data["geometry"], name=data.get("name", "")
            )
        else:
            edit = drafts.draft_retire(**common, code=data["code"], into=data["into"])
        return Response(edit_body(edit), status=201)


class DraftUndoApi(ScopedAPIView):
    """Takes back the last edit."""

    required_permission = EDIT

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: CONFLICT})
    def post(self, request, draft_id: int):
        edit = drafts.draft_undo(scope=self.scope, actor=request.user, draft=drafts.draft_get(draft_id))
        return Response({"undone": edit_body(edit)})


class DraftProblemsApi(ScopedAPIView):
    """The draft's problems as a GeoJSON FeatureCollection: severity, problem, reason, units."""

    required_permission = EDIT

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, draft_id: int):
        draft = drafts.draft_get(draft_id)
        features = [f for f in checks.draft_problems(draft) if _visible(self.scope, f["properties"].get("units", []))]
        errors = sum(1 for f in features if f["properties"]["severity"] == "error")
        return Response(
            {
                "type": "FeatureCollection",
                "features": features,
                "errors": errors,
                "warnings": len(features) - errors,
            }
        )


def _visible(scope, codes) -> bool:
    return not codes or any(scope.sees(code) for code in codes)


class DraftImpactApi(ScopedAPIView):
    """What activation would change: households, residents, open incidents and bindings changing cells,
    before and after counts per unit, and the moved households as points."""

    required_permission = EDIT

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, draft_id: int):
        draft = drafts.draft_get(draft_id)
        return Response(checks.draft_impact(draft, scope=self.scope))


class DraftActivateApi(ScopedAPIView):
    """Makes the draft live; 409 with the problems while there are errors or unconfirmed warnings."""

    required_permission = EDIT

    @extend_schema(
        request=inline_serializer(
            "DraftActivate",
            {
                "confirm_warnings": serializers.BooleanField(required=False),
                "background": serializers.BooleanField(required=False),
            },
        ),
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiResponse(description="`background`: queued; the generation list shows when it is live."),
            409: OpenApiResponse(
                description="Errors, or warnings not confirmed: `error.fields.problems` gives their reasons."
            ),
        },
    )
    def post(self, request, draft_id: int):
        draft = drafts.draft_get(draft_id)
        confirm = str(request.data.get("confirm_warnings", "")).lower() in ("1", "true", "yes")
        if str(request.data.get("background", "")).lower() in ("1", "true", "yes"):
            drafts.draft_activate_later(scope=self.scope, actor=request.user, draft=draft, confirm_warnings=confirm)
            return Response({"generation": draft.pk, "status": "queued"}, status=202)
        result = drafts.draft_activate(scope=self.scope, actor=request.user, draft=draft, confirm_warnings=confirm)
        return Response(result)
