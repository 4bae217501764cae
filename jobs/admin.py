"""Read-only admin view of the tasks waiting for the broker."""

from django.contrib import admin

from jobs.models import OutboxTask


@admin.register(OutboxTask)
class OutboxTaskAdmin(admin.ModelAdmin):
    list_display = ["name", "args", "created_at", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["name"]
    readonly_fields = ["name", "args", "kwargs", "created_at", "attempts", "next_attempt_at", "last_error"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
