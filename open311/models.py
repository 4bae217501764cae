"""Open311 clients (the apps allowed to post service requests) and the record of what each one posted."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def key_digest(key: str) -> str:
    # Keys are 256 random bits, so a plain SHA-256 is enough (nothing to brute-force, unlike a password).
    return hashlib.sha256(key.encode()).hexdigest()


class Open311Client(models.Model):
    """
    An application that reports problems through the Open311 GeoReport v2 API: a city app, a
    partner's hotline software. It holds one API key, of which only the SHA-256 digest is kept; the
    key itself is shown once, when the client is created. Posting creates incidents anywhere in the
    city, reported by `acts_as` (a staff account that then follows the cases in its inbox) or, when
    that is empty, by the system; every incident it creates is recorded as an `Open311Request`.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    key_prefix = models.CharField(_("key prefix"), max_length=8, editable=False)
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    acts_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acts as"),
        help_text=_("The staff account recorded as the reporter; empty: the system."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 client")
        verbose_name_plural = _("Open311 clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Open311Request(models.Model):
    """
    An incident that came in through Open311, with what the GeoReport v2 request carried besides the
    incident's own fields: the client, the attribute answers, the media URL and the gazetteer
    building an address-only request was placed at. Reporters' personal data (name, phone) goes to
    the incident, where it is encrypted; e-mail, device and account ids are not kept.
    """

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="open311")
    client = models.ForeignKey(Open311Client, on_delete=models.PROTECT, related_name="requests")
    attributes = models.JSONField(default=dict, blank=True)
    media_url = models.URLField(max_length=500, blank=True)
    address_id = models.CharField(max_length=40, blank=True)
    service_notice = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 request")
        verbose_name_plural = _("Open311 requests")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client} {self.incident_id}"
