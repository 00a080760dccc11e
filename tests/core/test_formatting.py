"""Money, numbers and phones read the same on every page, in Russian and in English."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.models import CustomerScore
from clientbase.core.formatting import format_money, format_number, format_percent
from clientbase.orders.services import ItemInput, OrderInput, order_upsert
from tests import factories

NB = "\u00a0"  # Russian groups digits and separates the ruble sign with no-break spaces


@pytest.mark.parametrize(
    ("language", "value", "currency", "shown"),
    [
        ("ru", Decimal("140190245.72"), "RUB", f"140{NB}190{NB}245,72{NB}₽"),
        ("en", Decimal("140190245.72"), "RUB", "₽140,190,245.72"),
        ("ru", Decimal("0"), None, f"0,00{NB}₽"),
        ("en", "0.00", None, "₽0.00"),
        ("ru", Decimal("-1500.5"), "EUR", f"-1{NB}500,50{NB}€"),
        ("en", Decimal("-1500.5"), "usd", "-$1,500.50"),
        ("ru", Decimal("99.9"), "MDL", f"99,90{NB}MDL"),
        ("en", Decimal("99.9"), "MDL", f"MDL{NB}99.90"),
        ("ru", None, None, "—"),
    ],
)
def test_money(language, value, currency, shown):
    with translation.override(language):
        assert format_money(value, currency) == shown


def test_numbers_and_shares():
    with translation.override("ru"):
        assert format_number(2848) == f"2{NB}848"
        assert format_number(Decimal("2.000")) == "2"
        assert format_number(Decimal("1234.5"), 1) == f"1{NB}234,5"
        assert format_percent(0.375) == f"37,5{NB}%"
        assert format_percent(0.873, 0) == f"87{NB}%"
    with translation.override("en"):
        assert format_number(2848) == "2,848"
        assert format_percent(0.375) == f"37.5{NB}%"


@pytest.fixture
def shop(db):
    """A customer with a big delivered order, scores, and an open order for the caller page."""
    customer = factories.make_customer(last_name="Деньгин", phones=["+79325431208"])
    placed = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
    delivered, _ = order_upsert(
        actor=None,
        customer=customer,
        data=OrderInput(
            external_id="M-1",
            placed_at=placed,
            status="delivered",
            currency="RUB",
            discount=Decimal("100.00"),
            delivery_cost=Decimal("350.00"),
            items=[ItemInput(name="Станок", quantity=Decimal("2"), price=Decimal("70095000.00"))],
        ),
    )
    open_order, _ = order_upsert(
        actor=None,
        customer=customer,
        data=OrderInput(
            external_id="M-2",
            placed_at=placed,
            currency="RUB",
            items=[ItemInput(name="Винт", price=Decimal("1784702.50"))],
        ),
    )
    CustomerScore.objects.create(
        customer=customer,
        as_of=dt.date(2026, 3, 3),
        importance=2,
        rfm_segment=RfmSegment.CHAMPIONS,
        r_score=5,
        f_score=5,
        m_score=5,
        frequency=1,
        monetary=Decimal("140190250.00"),
        recency_days=1,
        p_alive=0.873,
        expected_order_value=Decimal("26121.48"),
        clv=Decimal("3541006.94"),
    )
    return customer, delivered, open_order


def page(path: str, language: str) -> str:
    client = Client()
    client.force_login(factories.make_user(role="admin"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


RU_TOTAL = f"140{NB}190{NB}250,00{NB}₽"
EN_TOTAL = "₽140,190,250.00"


def test_customer_card(shop):
    customer, _, _ = shop
    ru = page(f"/customers/{customer.pk}/", "ru")
    assert RU_TOTAL in ru  # purchase history
    assert f"70{NB}095{NB}000,00{NB}₽" in ru  # item price
    assert f"<strong>26{NB}121,48{NB}₽</strong>" in ru  # expected order value
    assert f"<strong>3{NB}541{NB}006,94{NB}₽</strong>" in ru  # CLV
    assert f"<strong>87{NB}%</strong>" in ru
    assert "+7 932 543-12-08" in ru and "+79325431208</" not in ru
    en = page(f"/customers/{customer.pk}/", "en")
    assert EN_TOTAL in en and "<strong>₽3,541,006.94</strong>" in en
    assert "140190250" not in en.replace('"', " ")


def test_order_pages(shop):
    _, delivered, _ = shop
    ru = page(f"/orders/{delivered.pk}/", "ru")
    for shown in (f"140{NB}190{NB}000,00{NB}₽", f"100,00{NB}₽", f"350,00{NB}₽", RU_TOTAL):
        assert f'<td class="text-end text-nowrap">{shown}</td>' in ru
    assert "RUB" not in ru.split("<main", 1)[1]
    assert f'<td class="text-end text-nowrap">{EN_TOTAL}</td>' in page("/orders/", "en")
    assert f'<td class="text-end text-nowrap">{RU_TOTAL}</td>' in page("/orders/", "ru")


def test_caller_page(shop):
    ru = page("/orders/caller/?phone=89325431208", "ru")
    assert "Входящий звонок: +7 932 543-12-08" in ru
    assert f'<dd class="fs-5 mb-0 text-nowrap">{RU_TOTAL}</dd>' in ru  # revenue
    assert f"1{NB}784{NB}702,50{NB}₽" in ru  # the open order
    en = page("/orders/caller/?phone=89325431208", "en")
    assert '<dd class="fs-5 mb-0 text-nowrap">₽140,190,250.00</dd>' in en
    assert "₽1,784,702.50" in en


def test_rfm_grid_and_dashboard(shop):
    ru = page("/analytics/rfm/", "ru")
    assert f'<span class="d-block small text-body-secondary">{RU_TOTAL}</span>' in ru
    en = page("/analytics/rfm/", "en")
    assert f'<span class="d-block small text-body-secondary">{EN_TOTAL}</span>' in en
    dashboard = page("/analytics/?start=2026-01-01&end=2026-12-31", "ru")
    assert f'data-kpi="revenue">{RU_TOTAL}</div>' in dashboard
    dashboard = page("/analytics/?start=2026-01-01&end=2026-12-31", "en")
    assert f'data-kpi="revenue">{EN_TOTAL}</div>' in dashboard


def test_segment_preview_counts_in_the_users_grouping(db):
    for _ in range(3):
        factories.make_customer()
    ru = page("/segments/preview/?query=kind+%3D+person", "ru")
    assert "Подходят <strong>3</strong> клиента." in ru
    en = page("/segments/preview/?query=kind+%3D+person", "en")
    assert "<strong>3</strong> customers match." in en
