"""Each order's day in the shop's time zone, and the covering index the analytics refresh reads."""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models


def fill_placed_day(apps, schema_editor):
    connection = schema_editor.connection
    table = schema_editor.quote_name("orders_order")
    if connection.vendor == "postgresql":
        schema_editor.execute(
            f"UPDATE {table} SET placed_day = "  # noqa: S608 - a constant table name
            "((placed_at AT TIME ZONE %s)::date - DATE '2000-01-01')",
            [settings.TIME_ZONE],
        )
    elif connection.vendor == "sqlite":
        # The zone's offset now: exact for zones without daylight saving time (all of Russia).
        offset = datetime.datetime.now(ZoneInfo(settings.TIME_ZONE)).utcoffset()
        days = (offset or datetime.timedelta()).total_seconds() / 86400
        schema_editor.execute(
            f"UPDATE {table} SET placed_day = "  # noqa: S608 - constants only
            f"CAST(julianday(placed_at) - 2451544.5 + {days!r} AS INTEGER)"
        )
    else:  # pragma: no cover - other databases are not supported
        Order = apps.get_model("orders", "Order")
        epoch = datetime.date(2000, 1, 1)
        tz = ZoneInfo(settings.TIME_ZONE)
        for order in Order.objects.only("placed_at").iterator():
            Order.objects.filter(pk=order.pk).update(
                placed_day=(order.placed_at.astimezone(tz).date() - epoch).days
            )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_vip"),
        ("orders", "0002_customer_stats_manager_capacity"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="placed_day",
            field=models.IntegerField(default=0, editable=False),
        ),
        migrations.RunPython(fill_placed_day, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                fields=["status", "customer", "placed_day", "total"], name="order_analytics_idx"
            ),
        ),
    ]
