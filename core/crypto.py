"""Encryption at rest for personal data: Fernet-encrypted model fields and keyed hashes for exact search."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _derived_key(purpose: str) -> bytes:
    # Development only: without configured keys, keys are derived from SECRET_KEY (production
    # settings refuse to start without real ones).
    return hashlib.sha256(f"geogrid:{purpose}:{settings.SECRET_KEY}".encode()).digest()


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.GEOGRID_FIELD_ENCRYPTION_KEYS) or [base64.urlsafe_b64encode(_derived_key("fields")).decode()]
    try:
        # The first key encrypts; all of them decrypt, so keys can be rotated.
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"GEOGRID_FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from None


@cache
def _index_key() -> bytes:
    key = settings.GEOGRID_BLIND_INDEX_KEY
    return key.encode() if key else _derived_key("blind-index")


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured("A personal-data field cannot be decrypted with the configured keys.") from None


def blind_index(value: str | None) -> str:
    """A keyed hash of a normalised value: equal values give equal hashes, nothing else is revealed."""
    if not value:
        return ""
    return hmac.new(_index_key(), value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """
    A text field stored encrypted with Fernet. `index_field`, when given, names a sibling field that
    receives the value's blind index on every save, so the value can be found by exact match
    (`Model.objects.filter(phone_index=blind_index(normalised))`) without being readable.
    """

    def __init__(self, *args, index_field: str | None = None, normalize=None, **kwargs):
        self.index_field = index_field
        self.normalize = normalize
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.index_field:
            kwargs["index_field"] = self.index_field
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        return value if value in (None, "") else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value in (None, "") else encrypt(value)

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if self.normalize and value:
            value = self.normalize(value)
            setattr(model_instance, self.attname, value)
        if self.index_field:
            setattr(model_instance, self.index_field, blind_index(value))
        return value

    def get_lookup(self, lookup_name):
        # Ciphertexts differ for equal values: comparing them would silently find nothing.
        if lookup_name not in ("isnull",):
            return None
        return super().get_lookup(lookup_name)
