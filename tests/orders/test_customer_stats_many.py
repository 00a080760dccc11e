"""customer_stats_refresh_many computes what customer_stats_refresh does, for many at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from clientbase.orders.models import CustomerStats
from clientbase.orders.services import (
    OrderInput,
    customer_stats_refresh,
    customer_stats_refresh_many,
    order_status_set,
    order_upsert,
)
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

FIELDS = (
    "first_order_at",
    "last_order_at",
    "orders_count",
    "delivered_count",
    "revenue",
    "average_order_value",
    "refused_cod_count",
    "last_refused_at",
    "stoplist_proposed_at",
)


def snapshot(ids: list[int]) -> dict[int, tuple[Any, ...]]:
    return {
        row[0]: row[1:]
        for row in CustomerStats.objects.filter(customer_id__in=ids).values_list(
            "customer_id", *FIELDS
        )
    }


def place(customer: Any, number: str, total: str, status: str, payment: str = "card") -> int:
    order, _created = order_upsert(
        actor=None,
        data=OrderInput(
            external_id=number,
            placed_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=len(number)),
            status="new",
            total=Decimal(total),
            payment_method=payment,
        ),
        customer=customer,
    )
    if status != "new":
        order_status_set(actor=None, order_id=order.pk, status=status, skip_steps=True)
    return order.pk


def test_many_agrees_with_one_by_one(settings: Any) -> None:
    settings.STOPLIST_PROPOSE_AFTER_REFUSALS = 1
    # Half a cent of average rounds to even, as Decimal does: 0.05 / 2 -> 0.02, 0.15 / 2 -> 0.08.
    even = make_customer()
    place(even, "e1", "0.01", "delivered")
    place(even, "e22", "0.04", "delivered")
    odd = make_customer()
    place(odd, "o1", "0.10", "delivered")
    place(odd, "o22", "0.05", "delivered")
    place(odd, "o333", "999.99", "cancelled")
    # Floating-point sums on SQLite: 0.1 + 0.2 must still be 0.30.
    floats = make_customer()
    place(floats, "f1", "0.10", "delivered")
    place(floats, "f22", "0.20", "delivered")
    place(floats, "f333", "1234567.89", "delivered")
    refuser = make_customer()
    place(refuser, "r1", "500", "refused", payment="cod")
    place(refuser, "r22", "700", "delivered", payment="cod")
    nobody = make_customer()
    customers = [even, odd, floats, refuser, nobody]
    ids = [c.pk for c in customers]
    for customer_id in ids:
        customer_stats_refresh(customer_id)
    expected = snapshot(ids)
    assert expected[refuser.pk][FIELDS.index("stoplist_proposed_at")] is not None
    assert expected[even.pk][FIELDS.index("average_order_value")] == Decimal("0.02")
    assert expected[odd.pk][FIELDS.index("average_order_value")] == Decimal("0.08")
    assert expected[floats.pk][FIELDS.index("revenue")] == Decimal("1234568.19")

    # Over existing rows (an update keeps the stop-list proposal) ...
    CustomerStats.objects.filter(customer_id__in=ids).update(
        orders_count=99, revenue=Decimal("1"), last_refused_at=None
    )
    assert customer_stats_refresh_many(ids) == len(ids)
    assert snapshot(ids) == expected
    # ... and into an empty table.
    CustomerStats.objects.filter(customer_id__in=ids).delete()
    customer_stats_refresh_many([*ids, *ids, 10**9])  # repeats and unknown ids are harmless
    fresh = snapshot(ids)
    for customer_id in ids:
        # A row written anew has no stop-list proposal; everything else is the same.
        assert fresh[customer_id][:-1] == expected[customer_id][:-1]
    assert not CustomerStats.objects.filter(customer_id=10**9).exists()
    assert customer_stats_refresh_many([]) == 0
