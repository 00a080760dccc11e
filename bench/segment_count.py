"""Segment count latency over a big base (the 1M-customer SQLite base of bench/customer_list.py).

Times `segment_count` in-process for indexed predicates and their combinations, 20 runs each
after one warm-up, and prints p50 and max in milliseconds against the 100 ms budget.

    .venv/bin/python bench/customer_list.py            # makes var/bench-list once (1M customers)
    CLIENTBASE_DATA_DIR=var/bench-list .venv/bin/clientbase migrate
    .venv/bin/python bench/segment_count.py [--data-dir var/bench-list] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-list"))
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    database = Path(args.data_dir) / "clientbase.sqlite3"
    if not database.exists():
        sys.exit(f"{database} is missing: run `.venv/bin/python bench/customer_list.py` first")
    os.environ["CLIENTBASE_DATA_DIR"] = args.data_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbase.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count

    from clientbase.customers.models import Customer, Tag
    from clientbase.segments.selectors import segment_count

    total = Customer.objects.count()
    tags = Tag.objects.annotate(n=Count("customers")).order_by("-n").values_list("name", flat=True)
    tag = tags.first() or "VIP"
    rare_tag = "VIP" if Tag.objects.filter(name="VIP").exists() else tag
    manager = (
        Customer.objects.filter(manager__isnull=False)
        .values_list("manager__username", flat=True)
        .first()
        or "admin"
    )
    queries = [
        "kind = person",
        "kind = company",
        "status = stoplisted",
        'city = "Москва"',
        'city in ("Казань", "Самара")',
        f'tag = "{tag}"',
        f'tag = "{rare_tag}"',
        "birthday in month 5",
        "birthday within 14 days",
        f'manager = "{manager}"',
        "manager = none",
        "vip",
        "created >= 2025-01-01 and created < 2025-04-01",
        "created < 30 days ago",
        'kind = person and city = "Москва"',
        f'kind = person and city = "Москва" and tag = "{tag}"',
        'city = "Москва" or city = "Санкт-Петербург"',
        f'kind = company and (tag = "{rare_tag}" or vip)',
        "status = active and birthday within 7 days",
        'interest = "Спорт и отдых"',
        'category = "Обувь"',
        'region = "Московская область"',
        'kind = person and city = "Москва" and category = "Обувь"',
        'kind = company and (region = "Московская область" or vip)',
    ]
    print(f"SQLite {database} · {total:,} customers · {args.runs} runs per query")
    print(f"{'query':<66} {'count':>9} {'p50 ms':>8} {'max ms':>8}")
    slow = []
    for query in queries:
        count = segment_count(query)  # warm-up, and the figure shown
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            segment_count(query)
            times.append((time.perf_counter() - start) * 1000)
        p50, worst = statistics.median(times), max(times)
        mark = "" if p50 < BUDGET_MS else "  over budget"
        if mark:
            slow.append(query)
        print(f"{query[:66]:<66} {count:>9,} {p50:>8.1f} {worst:>8.1f}{mark}")
    connection.close()
    print(f"budget: p50 < {BUDGET_MS:.0f} ms; over budget: {len(slow)}")


if __name__ == "__main__":
    main()
