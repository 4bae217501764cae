"""Admin of users (personal data masked), departments, bindings, tokens and the read-only audit log."""

from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiToken, Department, UnitBinding, User
from accounts.roles import PERSONAL_DATA
from accounts.selectors import scope_for_user
from core.personal import mask_phone


class UnitBindingInline(admin.TabularInline):
    model = UnitBinding
    extra = 0
    fields = ["unit_code", "kind", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "first_name", "masked_phone", "department", "role_names", "is_active", "last_login"]
    list_filter = ["groups", "department", "is_active", "is_superuser"]
    search_fields = ["username", "first_name", "email"]
    inlines = [UnitBindingInline]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "email", "phone", "department")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("department").prefetch_related("groups")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "phone" in form.base_fields and not scope_for_user(request.user).has(PERSONAL_DATA):
            form.base_fields["phone"].disabled = True
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not scope_for_user(request.user).has(PERSONAL_DATA):
            # The form would render the phone in clear; without the permission it is left out.
            return [
                (name, {**options, "fields": tuple(f for f in options["fields"] if f != "phone")})
                for name, options in fieldsets
            ]
        return fieldsets

    @admin.display(description=_("phone"))
    def masked_phone(self, user):
        return mask_phone(user.phone)

    @admin.display(description=_("roles"))
    def role_names(self, user):
        return ", ".join(sorted(group.name for group in user.groups.all()))


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "name", "created", "expiry", "last_used_at"]
    search_fields = ["user__username", "name", "token_key"]
    readonly_fields = ["token_key", "user", "created", "expiry", "last_used_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        return False


# The audit log is append-only: readable, never editable, never deletable.
admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "actor", "action", "event", "content_type", "object_repr", "remote_addr"]
    list_filter = ["action", "content_type", "timestamp"]
    search_fields = ["object_repr", "object_pk", "actor__username", "remote_addr"]
    date_hierarchy = "timestamp"
    list_select_related = ["actor", "content_type"]

    @admin.display(description=_("event"))
    def event(self, entry):
        return (entry.additional_data or {}).get("event", "")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
