"""Admin of the basic information database: tags are editable; ID and phone numbers never shown."""

from django.contrib import admin

from residents.models import AttentionTag, Building, Household, ImportJob, Resident


@admin.register(AttentionTag)
class AttentionTagAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "applies_to", "description"]
    list_filter = ["applies_to"]


@admin.register(Building)
class BuildingAdmin(admin.ModelAdmin):
    list_display = ["ref", "address", "floors", "units", "grid_code"]
    search_fields = ["ref", "address"]


class ResidentInline(admin.TabularInline):
    model = Resident
    extra = 0
    fields = ["name", "gender", "birth_date", "relation", "residence_status"]
    readonly_fields = fields
    can_delete = False


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    # Changes go through the API's services (assignment to cells, checks); the admin reads.
    list_display = ["ref", "address", "grid_code", "unit_code", "size", "housing_type", "source"]
    list_filter = ["housing_type", "source"]
    search_fields = ["ref", "address"]
    inlines = [ResidentInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["created_at", "file_name", "status", "created_by", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [
        "file_name",
        "options",
        "status",
        "stage",
        "done",
        "total",
        "report",
        "created_by",
        "finished_at",
    ]
    exclude = ["stored_path", "rejects_path"]
