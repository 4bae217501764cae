"""Personal data is encrypted at rest and found by exact value through a keyed hash."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.db import connection

from accounts.models import User
from core import crypto

pytestmark = pytest.mark.django_db


def raw_phone(user) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, phone_index FROM accounts_user WHERE id = %s", [user.pk])
        return cursor.fetchone()


def test_the_phone_is_stored_encrypted_and_read_back_in_clear(make_user):
    user = make_user("grid_worker", units=[], phone="138-1234-5678")
    stored, index = raw_phone(user)
    assert "13812345678" not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert User.objects.get(pk=user.pk).phone == "13812345678"
    assert index == crypto.blind_index("13812345678") and len(index) == 64


def test_equal_values_encrypt_differently_but_hash_equally(make_user):
    first = make_user("viewer", units=[], phone="13812345678")
    second = make_user("viewer", units=[], phone="+86 138 1234 5678")
    assert raw_phone(first)[0] != raw_phone(second)[0]
    found = User.objects.filter(phone_index=crypto.blind_index("13812345678"))
    assert set(found) == {first, second}


def test_comparing_ciphertexts_is_refused(make_user):
    with pytest.raises(FieldError):
        list(User.objects.filter(phone="13812345678"))


def test_keys_can_be_rotated(make_user, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.GEOGRID_FIELD_ENCRYPTION_KEYS = [old_key]
    crypto._fernet.cache_clear()
    try:
        user = make_user("viewer", units=[], phone="13912345678")
        settings.GEOGRID_FIELD_ENCRYPTION_KEYS = [new_key, old_key]
        crypto._fernet.cache_clear()
        assert User.objects.get(pk=user.pk).phone == "13912345678"  # old data still reads
        settings.GEOGRID_FIELD_ENCRYPTION_KEYS = [new_key]
        crypto._fernet.cache_clear()
        with pytest.raises(Exception, match="cannot be decrypted"):
            User.objects.get(pk=user.pk)
    finally:
        crypto._fernet.cache_clear()
