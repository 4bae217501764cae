"""Users, the units they are bound to (their jurisdiction), departments and API tokens."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken

from core.crypto import EncryptedTextField
from core.personal import phone_normalize


class Department(models.Model):
    """
    A functional department (public security, civil affairs, housing, urban management...). Its
    staff see the incidents assigned to the department, inside their own jurisdiction.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A member of staff. What they may do comes from their roles (groups), where from their bindings."""

    phone = EncryptedTextField(_("phone"), blank=True, default="", index_field="phone_index", normalize=phone_normalize)
    phone_index = models.CharField(max_length=64, blank=True, default="", db_index=True, editable=False)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="staff", verbose_name=_("department")
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [
            ("view_personal_data", _("Can see unmasked ID numbers and phone numbers")),
            ("manage_users", _("Can create users and bind them to units in scope")),
            ("view_audit_log", _("Can read and export the audit log")),
        ]


class UnitBinding(models.Model):
    """
    A user's jurisdiction: one grid unit, named by its stable code, covering its whole subtree.
    Every binding lets the user read there; a capture binding also lets them create and change
    records there (a leader reads a street, a grid worker captures in their own cells).
    """

    class Kind(models.TextChoices):
        VIEW = "view", _("view")
        CAPTURE = "capture", _("view and capture")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="bindings", verbose_name=_("user"))
    unit_code = models.CharField(_("unit code"), max_length=15)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.VIEW)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("unit binding")
        verbose_name_plural = _("unit bindings")
        ordering = ["user", "unit_code"]
        constraints = [
            models.UniqueConstraint(fields=["user", "unit_code"], name="unitbinding_unique_per_user"),
            models.CheckConstraint(condition=models.Q(unit_code__regex=r"^[0-9]{6,15}$"), name="unitbinding_code"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.unit_code} ({self.kind})"


class ApiToken(AbstractAuthToken):
    """An API token: only its digest is stored; the key is shown once, when it is created."""

    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created"]
