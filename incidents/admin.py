"""Admin of categories and routing rules (editable data), and read-mostly views of incidents and visit logs."""

from django.contrib import admin

from incidents.models import Category, Incident, IncidentEvent, Notification, RoutingRule, VisitLog


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "family",
        "parent",
        "accept_hours",
        "dispatch_hours",
        "resolve_hours",
        "default_priority",
        "default_department",
        "active",
    ]
    list_filter = ["family", "active", "default_priority", "default_department"]
    search_fields = ["code", "name"]
    list_editable = ["accept_hours", "dispatch_hours", "resolve_hours", "active"]
    list_select_related = ["parent", "default_department"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["id", "category", "family", "under", "level", "department", "basis", "priority", "active"]
    list_filter = ["family", "basis", "level", "active", "department"]
    list_select_related = ["category", "department"]
    autocomplete_fields = ["category"]


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    extra = 0
    fields = ["at", "action", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    # The workflow changes incidents (with its checks, timeline and notifications); the admin only reads.
    list_display = [
        "number",
        "title",
        "category",
        "status",
        "source",
        "assigned_unit_code",
        "assigned_department",
        "reported_at",
        "due_at",
        "supervised",
    ]
    list_filter = ["status", "source", "priority", "supervised", "category__family"]
    search_fields = ["number", "title"]
    date_hierarchy = "reported_at"
    list_select_related = ["category", "assigned_department"]
    inlines = [IncidentEventInline]
    exclude = ["reporter_phone", "reporter_phone_index"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(VisitLog)
class VisitLogAdmin(admin.ModelAdmin):
    list_display = ["visited_at", "worker", "grid_code", "sentiment"]
    list_filter = ["sentiment"]
    search_fields = ["worker__username", "grid_code", "discussion"]
    list_select_related = ["worker"]
    raw_id_fields = ["households", "residents"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "incident", "read_at"]
    list_filter = ["kind"]
    exclude = ["phone"]
    list_select_related = ["recipient", "incident"]

    def has_add_permission(self, request):
        return False
