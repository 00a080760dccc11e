"""Constraints the database itself keeps on the customer card, and model helpers."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from clientbase.customers.choices import CustomerKind, CustomerStatus
from clientbase.customers.models import Address, Customer, CustomerEmail, CustomerPhone

pytestmark = pytest.mark.django_db


def refused(make) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_only_one_primary_phone_email_and_default_address_per_customer():
    customer = Customer.objects.create(first_name="Анна")
    CustomerPhone.objects.create(customer=customer, number="+79160000001", is_primary=True)
    CustomerEmail.objects.create(customer=customer, address="a@x.ru", is_primary=True)
    Address.objects.create(customer=customer, city="Тула", line="ул. Мира, 1", is_default=True)

    refused(
        lambda: CustomerPhone.objects.create(
            customer=customer, number="+79160000002", is_primary=True
        )
    )
    refused(
        lambda: CustomerEmail.objects.create(customer=customer, address="b@x.ru", is_primary=True)
    )
    refused(
        lambda: Address.objects.create(
            customer=customer, city="Омск", line="ул. Мира, 2", is_default=True
        )
    )
    # Non-primary rows are fine, and another customer has its own primary.
    CustomerPhone.objects.create(customer=customer, number="+79160000002")
    other = Customer.objects.create(first_name="Олег")
    CustomerPhone.objects.create(customer=other, number="+79160000001", is_primary=True)
    assert CustomerPhone.objects.count() == 3


def test_a_number_or_address_appears_once_per_customer():
    customer = Customer.objects.create(first_name="Анна")
    CustomerPhone.objects.create(customer=customer, number="+79160000001")
    CustomerEmail.objects.create(customer=customer, address="a@x.ru")
    refused(lambda: CustomerPhone.objects.create(customer=customer, number="+79160000001"))
    refused(lambda: CustomerEmail.objects.create(customer=customer, address="a@x.ru"))


def test_external_id_is_unique_but_many_customers_have_none():
    Customer.objects.create(first_name="А", external_id="shop-1")
    Customer.objects.create(first_name="Б", external_id=None)
    Customer.objects.create(first_name="В", external_id=None)
    refused(lambda: Customer.objects.create(first_name="Г", external_id="shop-1"))
    assert Customer.objects.filter(external_id__isnull=True).count() == 2


def test_deleting_a_customer_removes_contacts():
    customer = Customer.objects.create(first_name="Анна")
    CustomerPhone.objects.create(customer=customer, number="+79160000001")
    CustomerEmail.objects.create(customer=customer, address="a@x.ru")
    customer.delete()
    assert (CustomerPhone.objects.count(), CustomerEmail.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"last_name": "Иванова", "first_name": "Анна", "middle_name": "С."}, "Иванова Анна С."),
        ({"first_name": "Анна"}, "Анна"),
        (
            {"kind": CustomerKind.COMPANY, "company_name": "ООО Ромашка", "last_name": "Иванов"},
            "ООО Ромашка",
        ),
        ({"kind": CustomerKind.PERSON, "company_name": "ИП Иванов"}, "ИП Иванов"),
    ],
)
def test_display_name(fields, name):
    customer = Customer.objects.create(**fields)
    assert customer.display_name == name
    assert str(customer) == name


def test_display_name_falls_back_to_the_number():
    customer = Customer.objects.create()
    assert customer.display_name == f"#{customer.pk}"


def test_new_customer_defaults():
    customer = Customer.objects.create(first_name="Анна")
    customer.refresh_from_db()
    assert customer.version == 1
    assert customer.status == CustomerStatus.ACTIVE
    assert not customer.is_stoplisted
    assert customer.custom_fields == {}
    assert customer.interests == []
