"""Order.placed_day: the purchase's day in the shop's time zone, kept on every write path."""

import datetime as dt

import pytest

from clientbase.orders.models import DAY_EPOCH, Order, local_day
from tests import factories

UTC = dt.UTC
# 22:30 UTC on 31 December is already 1 January in Moscow (UTC+3).
LATE_EVENING_UTC = dt.datetime(2025, 12, 31, 22, 30, tzinfo=UTC)
NEW_YEAR_DAY = (dt.date(2026, 1, 1) - DAY_EPOCH).days


def test_local_day_uses_the_shop_time_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    assert local_day(LATE_EVENING_UTC) == NEW_YEAR_DAY
    assert local_day(dt.datetime(2000, 1, 1, 12, tzinfo=UTC)) == 0


@pytest.mark.django_db
def test_save_bulk_create_and_update_keep_placed_day(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    customer = factories.make_customer()
    saved = Order(customer=customer, external_id="1", placed_at=LATE_EVENING_UTC)
    saved.save()
    [bulk] = Order.objects.bulk_create(
        [Order(customer=customer, external_id="2", placed_at=LATE_EVENING_UTC)]
    )
    assert Order.objects.get(pk=saved.pk).placed_day == NEW_YEAR_DAY
    assert Order.objects.get(pk=bulk.pk).placed_day == NEW_YEAR_DAY

    earlier = dt.datetime(2025, 12, 30, 12, tzinfo=UTC)
    Order.objects.filter(pk=bulk.pk).update(placed_at=earlier)
    assert Order.objects.get(pk=bulk.pk).placed_day == NEW_YEAR_DAY - 2

    saved.placed_at = earlier
    saved.save(update_fields=["placed_at"])
    assert Order.objects.get(pk=saved.pk).placed_day == NEW_YEAR_DAY - 2


@pytest.mark.django_db
def test_update_to_an_expression_is_refused():
    from django.db.models import F

    with pytest.raises(ValueError, match="datetime"):
        Order.objects.update(placed_at=F("created_at"))
