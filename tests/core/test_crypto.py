"""Encryption at rest of identity documents, and masking for roles that may not read them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from clientbase.core.crypto import decrypt, encrypt, mask
from clientbase.customers.models import Customer


def raw_document(customer_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT document_number FROM customers_customer WHERE id = %s", [customer_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("clear", ["4510 123456", "AB1234567", "паспорт № 12 34 567890", "Ж-7"])
def test_encrypt_decrypt_round_trip(clear):
    token = encrypt(clear)
    assert token != clear
    assert clear not in token
    assert decrypt(token) == clear


def test_same_value_encrypts_differently_each_time():
    assert encrypt("4510 123456") != encrypt("4510 123456")


@pytest.mark.django_db
def test_encrypted_field_round_trip_through_the_database():
    customer = Customer.objects.create(
        first_name="Анна", document_type="passport_ru", document_number="4510 123456"
    )
    raw = raw_document(customer.pk)
    assert raw != "4510 123456"
    assert "123456" not in raw
    assert decrypt(raw) == "4510 123456"
    assert Customer.objects.get(pk=customer.pk).document_number == "4510 123456"
    assert Customer.objects.filter(pk=customer.pk).values_list(
        "document_number", flat=True
    ).get() == ("4510 123456")


@pytest.mark.django_db
def test_empty_document_is_stored_empty():
    customer = Customer.objects.create(first_name="Анна")
    assert raw_document(customer.pk) == ""
    assert Customer.objects.get(pk=customer.pk).document_number == ""


@pytest.mark.django_db
def test_wrong_key_gives_a_clear_error():
    customer = Customer.objects.create(first_name="Анна", document_number="4510 123456")
    with override_settings(FIELD_ENCRYPTION_KEY="some-other-key"):
        with pytest.raises(ValueError, match="cannot be read with the configured key"):
            Customer.objects.get(pk=customer.pk)
        with pytest.raises(ValueError, match="cannot be read with the configured key"):
            decrypt(raw_document(customer.pk))
    assert Customer.objects.get(pk=customer.pk).document_number == "4510 123456"


def test_garbage_token_gives_the_same_clear_error():
    with pytest.raises(ValueError, match="cannot be read with the configured key"):
        decrypt("not-a-fernet-token")


@pytest.mark.parametrize(
    ("value", "visible", "masked"),
    [
        ("4510 123456", 4, "••••••3456"),
        ("4510123456", 4, "••••••3456"),
        ("AB 1234567", 2, "•••••••67"),
        ("1234", 4, "••••"),
        ("12", 4, "••"),
        ("", 4, ""),
    ],
)
def test_mask(value, visible, masked):
    assert mask(value, visible=visible) == masked


@pytest.mark.django_db
def test_customer_exposes_a_masked_document():
    customer = Customer(document_number="4510 123456")
    assert customer.document_masked == "••••••3456"
    assert Customer(document_number="").document_masked == ""
