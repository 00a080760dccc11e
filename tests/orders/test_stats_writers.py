"""Customer statistics stay exact after every writer of orders, and `stats rebuild` repairs drift.

Each step writes orders the way a user does (the demo command, the API, the order page, an
order file, undo of an order file and of a customer file) and then compares every customer's
CustomerStats with a recomputation from the orders themselves, done here in plain Python.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from clientbase.accounts.services import apitoken_create
from clientbase.analytics.models import CustomerScore
from clientbase.customers.models import Customer, CustomerInterest
from clientbase.customers.normalize import search_key
from clientbase.imports.services import import_file, import_job_undo
from clientbase.orders.models import (
    CustomerCategory,
    CustomerStats,
    Order,
    OrderItem,
    OrderStatusChange,
)
from clientbase.orders.services import customer_stats_rebuild
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
NO_ORDERS = (0, 0, Decimal("0.00"), Decimal("0.00"), None, None, 0, None)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> Iterator[None]:
    settings.IMPORT_BACKUP = False
    settings.TIME_ZONE = "Europe/Moscow"
    settings.ORDER_CURRENCY = "RUB"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def recomputed() -> dict[int, tuple[Any, ...]]:
    """Every customer's statistics from their orders, without the services' SQL."""
    orders: dict[int, list[tuple[Any, ...]]] = {}
    for row in Order.objects.values_list(
        "customer_id", "status", "payment_method", "total", "placed_at"
    ):
        orders.setdefault(row[0], []).append(row[1:])
    refusals: dict[int, dt.datetime] = {}
    for customer_id, at in OrderStatusChange.objects.filter(
        status="refused", order__status="refused", order__payment_method="cod"
    ).values_list("order__customer_id", "at"):
        refusals[customer_id] = max(at, refusals.get(customer_id, at))
    result = {}
    for customer_id in Customer.objects.values_list("id", flat=True):
        rows = orders.get(customer_id, [])
        if not rows:
            result[customer_id] = NO_ORDERS
            continue
        delivered = [total for status, _pay, total, _at in rows if status == "delivered"]
        revenue = sum(delivered, Decimal("0")).quantize(CENT)
        result[customer_id] = (
            len(rows),
            len(delivered),
            revenue,
            (revenue / len(delivered)).quantize(CENT) if delivered else Decimal("0.00"),
            min(at for *_rest, at in rows),
            max(at for *_rest, at in rows),
            sum(1 for status, pay, _t, _at in rows if status == "refused" and pay == "cod"),
            refusals.get(customer_id),
        )
    return result


def stored() -> dict[int, tuple[Any, ...]]:
    """Every customer's stored statistics; a customer without a row has none."""
    rows = {
        row[0]: row[1:]
        for row in CustomerStats.objects.values_list(
            "customer_id",
            "orders_count",
            "delivered_count",
            "revenue",
            "average_order_value",
            "first_order_at",
            "last_order_at",
            "refused_cod_count",
            "last_refused_at",
        )
    }
    return {cid: rows.get(cid, NO_ORDERS) for cid in Customer.objects.values_list("id", flat=True)}


def categories_recomputed() -> dict[int, set[str]]:
    """Per customer, the categories of their delivered orders' items, in search form."""
    result: dict[int, set[str]] = {}
    for customer_id, category in OrderItem.objects.filter(order__status="delivered").values_list(
        "order__customer_id", "category"
    ):
        if category.strip():
            result.setdefault(customer_id, set()).add(search_key(category))
    return result


def categories_stored() -> dict[int, set[str]]:
    result: dict[int, set[str]] = {}
    for customer_id, key in CustomerCategory.objects.values_list("customer_id", "key"):
        result.setdefault(customer_id, set()).add(key)
    return result


def assert_interests_exact() -> None:
    stored_keys: dict[int, set[str]] = {}
    for customer_id, key in CustomerInterest.objects.values_list("customer_id", "key"):
        stored_keys.setdefault(customer_id, set()).add(key)
    for customer_id, interests in Customer.objects.values_list("id", "interests"):
        assert stored_keys.get(customer_id, set()) == {search_key(i) for i in interests}


def assert_exact(step: str) -> None:
    assert categories_stored() == categories_recomputed(), step
    expected, actual = recomputed(), stored()
    wrong = {cid: (actual[cid], expected[cid]) for cid in expected if actual[cid] != expected[cid]}
    assert not wrong, (
        f"after {step}: {len(wrong)} customers drifted, e.g. {next(iter(wrong.items()))}"
    )
    # Every buyer has a row: the card, the caller page and the segments read it.
    buyers = set(Order.objects.values_list("customer_id", flat=True))
    assert buyers <= set(CustomerStats.objects.values_list("customer_id", flat=True)), step


def test_every_writer_of_orders_leaves_exact_statistics(
    tmp_path: Path, client_for: Any, operator_user: Any
) -> None:
    # 1. The demo (`make run`).
    call_command("demo", customers=40, orders=160, seed=5, stdout=io.StringIO())
    assert Order.objects.count() == 160
    assert CustomerStats.objects.filter(orders_count__gt=0).count() == len(
        set(Order.objects.values_list("customer_id", flat=True))
    )
    assert_exact("the demo")
    assert CustomerCategory.objects.exists() and CustomerInterest.objects.exists()
    assert_interests_exact()

    # 2. The API: a new customer's order, an existing customer's order, a status change.
    api = ApiClient(apitoken_create(actor=None, name="shop", scopes=["orders:write"])[1])
    buyer = Customer.objects.filter(orders__isnull=False).order_by("id").first()
    assert buyer is not None
    order = {
        "external_id": "API-1",
        "source": "website",
        "placed_at": "2026-11-01T10:00:00+03:00",
        "status": "new",
        "payment_method": "card",
        "total": "1234.56",
        "items": [{"name": "Тёрка", "category": "Кухонная Утварь", "price": "1234.56"}],
        "customer": {"phone": "8 916 000-11-22", "first_name": "Анна"},
    }
    assert api.post("/api/v1/orders/", order).status_code == 201
    response = api.post(
        "/api/v1/orders/", {**order, "external_id": "API-2", "customer_id": buyer.pk}
    )
    assert response.status_code == 201, response.content
    shipped = Order.objects.filter(status="shipped").order_by("id")
    assert shipped.count() >= 2
    first_shipped, second_shipped = shipped[0].pk, shipped[1].pk
    response = api.post(f"/api/v1/orders/{first_shipped}/status/", {"status": "delivered"})
    assert response.status_code == 200, response.content
    assert_exact("the API")

    # 3. The order page.
    response = client_for(operator_user).post(
        f"/orders/{second_shipped}/status/", {"status": "delivered"}
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=second_shipped).status == "delivered"
    assert_exact("the order page")

    # 4. An order file: a new order of a known customer, one of a new customer, an update
    #    of a demo order that moves it to another customer and changes its total.
    moved = Order.objects.exclude(customer=buyer).order_by("id").first()
    assert moved is not None
    path = tmp_path / "orders.csv"
    path.write_text(
        "Номер заказа;Дата заказа;Сумма заказа;Статус;Телефон;Email\n"
        f"F-1;05.03.2025 14:30;1 500,00;Доставлен;{buyer.primary_phone};\n"
        "F-2;06.03.2025 10:00;700,50;Доставлен;+7 916 555-44-33;new.buyer@example.com\n"
        f"{moved.external_id};07.03.2025 09:00;999,99;Доставлен;{buyer.primary_phone};\n",
        encoding="utf-8",
    )
    job = import_file(actor=None, kind="orders", path=path)
    assert (job.rows_created, job.rows_updated, job.rows_rejected) == (2, 1, 0)
    assert Order.objects.get(pk=moved.pk).customer_id == buyer.pk
    assert_exact("an order file")

    # 5. Undo of that file: the new orders go, the moved order goes back.
    undone = import_job_undo(actor=None, job_id=job.pk)
    assert undone.undo_report["removed"] == 2 and undone.undo_report["restored"] == 1
    assert Order.objects.get(pk=moved.pk).customer_id == moved.customer_id
    assert_exact("undo of an order file")

    # 6. A customer file and its undo (customers removed only without orders).
    people = tmp_path / "customers.csv"
    people.write_text(
        "Фамилия;Имя;Телефон\nНовикова;Ольга;+7 916 777-66-55\n"
        f"{buyer.last_name};{buyer.first_name};{buyer.primary_phone}\n",
        encoding="utf-8",
    )
    customers_job = import_file(actor=None, kind="customers", path=people)
    assert customers_job.rows_created == 1
    import_job_undo(actor=None, job_id=customers_job.pk)
    assert_exact("undo of a customer file")
    assert_interests_exact()


def test_stats_rebuild_repairs_a_drifted_base() -> None:
    call_command("demo", customers=30, orders=120, seed=9, stdout=io.StringIO())
    assert_exact("the demo")
    buyers = list(CustomerStats.objects.filter(orders_count__gt=0).order_by("customer_id")[:5])
    idle = Customer.objects.filter(orders__isnull=True).order_by("id").first()
    assert len(buyers) == 5 and idle is not None
    # Drift: wrong numbers, a missing row, and orders for a customer who has none.
    CustomerStats.objects.filter(customer_id=buyers[0].customer_id).update(orders_count=99)
    CustomerStats.objects.filter(customer_id=buyers[1].customer_id).update(
        revenue=Decimal("1.00"), average_order_value=Decimal("1.00")
    )
    CustomerStats.objects.filter(customer_id=buyers[2].customer_id).update(
        last_order_at=dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    )
    CustomerStats.objects.filter(customer_id=buyers[3].customer_id).delete()
    CustomerStats.objects.update_or_create(customer_id=idle.pk, defaults={"orders_count": 3})
    proposed = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    CustomerStats.objects.filter(customer_id=buyers[4].customer_id).update(
        stoplist_proposed_at=proposed
    )

    # And bought categories: one customer's gone, a category another never bought.
    with_categories = CustomerCategory.objects.order_by("customer_id").first()
    assert with_categories is not None
    CustomerCategory.objects.filter(customer_id=with_categories.customer_id).delete()
    CustomerCategory.objects.create(customer_id=idle.pk, key="никогда не покупал")

    out = io.StringIO()
    call_command("stats", "rebuild", "--batch-size", "7", stdout=out)
    assert out.getvalue().strip() == (
        "Customers checked: 30, statistics rows fixed: 5, "
        "customers with bought categories fixed: 2."
    )
    assert_exact("stats rebuild")
    # The record of a stop-list proposal is history, not a figure: the rebuild keeps it.
    assert CustomerStats.objects.get(customer_id=buyers[4].customer_id).stoplist_proposed_at == (
        proposed
    )
    # A second run finds nothing to fix.
    result = customer_stats_rebuild(batch_size=1000)
    assert (result.checked, result.fixed, result.categories_fixed) == (30, 0, 0)


def test_after_the_demo_cards_and_the_caller_page_show_statistics_and_scores_are_filled(
    client_for: Any, operator_user: Any
) -> None:
    """What `make run` does: the demo, then `clientbase analytics refresh`."""
    call_command("demo", customers=40, orders=160, seed=5, stdout=io.StringIO())
    call_command("analytics", "refresh", stdout=io.StringIO())
    buyer = (
        Customer.objects.filter(stats__delivered_count__gt=1, status="active")
        .order_by("-stats__orders_count", "id")
        .first()
    )
    assert buyer is not None
    expected = recomputed()[buyer.pk]
    client = client_for(operator_user)
    card = client.get(f"/customers/{buyer.pk}/").content.decode()
    caller = client.get("/orders/caller/", {"phone": buyer.primary_phone}).content.decode()
    for html in (card, caller):
        block = html[html.index('class="row row-cols-auto g-3 mb-0 order-stats"') :]
        counts = re.findall(r'<dd class="fs-5 mb-0">(\d+)</dd>', block)[:2]
        assert counts == [str(expected[0]), str(expected[1])]
    # The scores: every customer has a row, and a buyer of delivered orders has real ones.
    scores = dict(CustomerScore.objects.values_list("customer_id", "rfm_segment"))
    assert len(scores) == Customer.objects.count() == 40
    purchasers = set(Order.objects.filter(status="delivered").values_list("customer_id", flat=True))
    assert purchasers
    assert {cid for cid, segment in scores.items() if segment != "no_orders"} == purchasers
    assert CustomerScore.objects.filter(customer_id__in=purchasers, r_score=0).count() == 0


def test_stats_rebuild_groups_its_counts_in_russian() -> None:
    Customer.objects.bulk_create(
        Customer(last_name=f"Петров{n}", first_name="Иван") for n in range(1200)
    )
    out = io.StringIO()
    with translation.override("ru"):
        call_command("stats", "rebuild", stdout=out)
    assert out.getvalue().strip() == (
        "Проверено клиентов: 1\u00a0200, исправлено строк статистики: 0, "
        "исправлены купленные категории у клиентов: 0."
    )
