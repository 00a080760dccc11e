"""Existing cities in their stored form (normalize_city): "москва" -> "Москва".

Set-wise: the distinct names are read once, and each table is rewritten by one UPDATE ... CASE
per few hundred names that change, so a million rows cost a few scans, not a query per row.
"""

from django.db import migrations
from django.db.models import Case, Value, When

from clientbase.customers.normalize import normalize_city

CHUNK = 500


def canonicalise_cities(apps, schema_editor):
    for name in ("Customer", "Address"):
        model = apps.get_model("customers", name)
        rows = model.objects.using(schema_editor.connection.alias)
        names = rows.exclude(city="").order_by().values_list("city", flat=True).distinct()
        changes = {c: normalize_city(c)[:100] for c in names}
        changes = {old: new for old, new in changes.items() if old != new}
        olds = sorted(changes)
        for start in range(0, len(olds), CHUNK):
            chunk = olds[start : start + CHUNK]
            rows.filter(city__in=chunk).update(
                city=Case(*(When(city=old, then=Value(changes[old])) for old in chunk))
            )


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_segment_interests_and_regions")]

    operations = [
        migrations.RunPython(canonicalise_cities, migrations.RunPython.noop, elidable=True)
    ]
