"""Three customers that differ in every field the segment language knows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation

from clientbase.accounts.choices import Role
from clientbase.analytics.models import CustomerScore
from clientbase.customers.choices import CustomFieldType
from clientbase.customers.models import Address, Consent, Customer, CustomFieldDefinition
from clientbase.orders.models import CustomerCategory, CustomerStats
from tests import factories

TODAY = dt.date(2026, 3, 15)


def aware(day: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(day + "T12:00:00"))


@pytest.fixture
def people(db: Any) -> dict[str, Customer]:
    """a: a loyal VIP in Moscow; b: a company at risk in Kazan; c: new, no stats, no score."""
    manager = factories.make_user(role=Role.MANAGER, username="mgr")
    for key, kind in [
        ("shoe", CustomFieldType.NUMBER),
        ("note", CustomFieldType.TEXT),
        ("since", CustomFieldType.DATE),
        ("opt", CustomFieldType.BOOLEAN),
    ]:
        CustomFieldDefinition.objects.create(key=key, label=key, field_type=kind)
    a = factories.make_customer(
        last_name="A",
        phones=["+79160000001"],
        emails=["a@example.com"],
        tags=["Скидки"],
        interests=["Спорт", "Кулинария"],
    )
    b = factories.make_customer(
        last_name="B", phones=["+79160000002"], tags=["VIP"], interests=["спорт "]
    )
    c = factories.make_customer(last_name="C", phones=[])
    Customer.objects.filter(pk=a.pk).update(
        kind="person",
        city="Москва",
        vip=True,
        gender="female",
        source="website",
        manager=manager,
        birthday=dt.date(1990, 5, 10),
        birth_month=5,
        birth_day=10,
        created_at=aware("2026-01-10"),
        custom_fields={"shoe": 42, "note": "x", "since": "2020-01-05", "opt": True},
    )
    Customer.objects.filter(pk=b.pk).update(
        kind="company",
        city="Казань",
        status="archived",
        gender="male",
        source="phone",
        birthday=dt.date(2000, 12, 30),
        birth_month=12,
        birth_day=30,
        created_at=aware("2025-06-01"),
        custom_fields={"shoe": 38.5, "note": "y", "since": "2024-02-01", "opt": False},
    )
    Customer.objects.filter(pk=c.pk).update(
        kind="person",
        city="",
        gender="",
        source="manual",
        birthday=dt.date(2004, 2, 29),
        birth_month=2,
        birth_day=29,
        created_at=aware("2026-03-01"),
        custom_fields={},
    )
    Consent.objects.create(customer=a, channel="email", state="granted")
    # Regions of the default addresses; b's other address is not the customer's region.
    Address.objects.create(
        customer=a, city="Москва", region="Московская область", line="1", is_default=True
    )
    Address.objects.create(
        customer=b, city="Казань", region="Республика Татарстан", line="2", is_default=True
    )
    Address.objects.create(customer=b, city="Химки", region="Московская область", line="3")
    # What they bought, as the stats refresh keeps it (tests/orders/test_stats_writers.py).
    CustomerCategory.objects.bulk_create(
        [CustomerCategory(customer=a, key="сад"), CustomerCategory(customer=b, key="кухня")]
    )
    Consent.objects.create(customer=b, channel="sms", state="withdrawn")
    CustomerStats.objects.update_or_create(
        customer=a,
        defaults={
            "orders_count": 5,
            "delivered_count": 4,
            "revenue": Decimal("5000"),
            "average_order_value": Decimal("1000"),
            "first_order_at": aware("2025-01-01"),
            "last_order_at": aware("2026-01-01"),
            "refused_cod_count": 0,
        },
    )
    CustomerStats.objects.update_or_create(
        customer=b,
        defaults={
            "orders_count": 1,
            "delivered_count": 0,
            "revenue": Decimal("100"),
            "average_order_value": Decimal("100"),
            "first_order_at": aware("2025-12-20"),
            "last_order_at": aware("2025-12-20"),
            "refused_cod_count": 2,
        },
    )
    CustomerStats.objects.filter(customer=c).delete()
    CustomerScore.objects.create(
        customer=a,
        as_of=TODAY,
        r_score=5,
        f_score=5,
        m_score=5,
        rfm_segment="champions",
        p_alive=0.9,
        expected_purchases=2.5,
        expected_order_value=Decimal("1200"),
        clv=Decimal("10000"),
        importance=4,
    )
    CustomerScore.objects.create(
        customer=b,
        as_of=TODAY,
        r_score=1,
        f_score=1,
        m_score=1,
        rfm_segment="at_risk",
        p_alive=0.2,
        expected_purchases=0.1,
        expected_order_value=Decimal("90"),
        clv=Decimal("50"),
        importance=1,
    )
    return {"a": a, "b": b, "c": c}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    """Messages are asserted in English (the msgids); one test checks the Russian catalogue."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
