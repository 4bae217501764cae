"""Admin pages of generations and grid units, with the boundary on a map."""

from django.contrib import admin
from django.contrib.gis.db import models as gis_models
from django.utils.translation import gettext_lazy as _

from boundaries.models import BoundaryImportJob, Generation, GridUnit
from boundaries.widgets import GridMapWidget


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "description", "active", "created_at", "activated_at"]
    list_filter = ["active"]
    readonly_fields = ["active", "created_at", "activated_at"]


@admin.register(GridUnit)
class GridUnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "level", "parent_code", "area_ha", "generation_low", "generation_high"]
    list_filter = ["level", "generation_low", "generation_high"]
    search_fields = ["code", "name"]
    ordering = ["level", "code"]
    list_per_page = 50
    show_full_result_count = False
    # Boundaries change through generations (import, or a draft in the planner's editor), never in
    # place: the admin shows the boundary on a map and lets an administrator correct the name.
    readonly_fields = [
        "code",
        "level",
        "parent_code",
        "area_m2",
        "label_point_text",
        "generation_low",
        "generation_high",
        "source",
        "created_at",
    ]
    fields = [
        "code",
        "name",
        "level",
        "parent_code",
        "geom",
        "area_m2",
        "label_point_text",
        "generation_low",
        "generation_high",
        "source",
        "created_at",
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, gis_models.GeometryField):
            field = db_field.formfield(widget=GridMapWidget(), **kwargs)
            field.disabled = True
            return field
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("area (ha)"), ordering="area_m2")
    def area_ha(self, unit):
        return None if unit.area_m2 is None else round(unit.area_m2 / 10_000, 2)

    @admin.display(description=_("label point"))
    def label_point_text(self, unit):
        return "" if unit.label_point is None else f"{unit.label_point.x:.6f}, {unit.label_point.y:.6f}"


@admin.register(BoundaryImportJob)
class BoundaryImportJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "file_name", "status", "created_by", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["file_name", "options", "status", "stage", "report", "created_by", "finished_at"]
    exclude = ["stored_path"]
