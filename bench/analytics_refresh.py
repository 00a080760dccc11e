"""Analytics refresh time with 100k customers and 1M orders on SQLite (budget: under 2 s).

Fills a base in its own data directory with `clientbase demo` (kept between runs), then times
`analytics_refresh` in-process three times and prints each run, the best, and rows per second.

    .venv/bin/python bench/analytics_refresh.py [--customers 100000] [--orders 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _base import ROOT, demo_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-analytics"))
    args = parser.parse_args()

    env = demo_base(Path(args.data_dir), customers=args.customers, orders=args.orders, seed=5)

    os.environ.update({k: v for k, v in env.items() if k in ("CLIENTBASE_DATA_DIR", "LOG_LEVEL")})
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbase.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from clientbase.analytics.services import analytics_refresh
    from clientbase.orders.models import Order

    orders = Order.objects.count()
    times = []
    result = None
    for n in range(1, args.runs + 1):
        start = time.perf_counter()
        result = analytics_refresh()
        seconds = time.perf_counter() - start
        times.append(seconds)
        print(f"run {n}: {seconds:.3f} s")
    assert result is not None
    best = min(times)
    print(f"customers {result.customers:,}, orders {orders:,}")
    print(f"best: {best:.3f} s ({result.customers / best:,.0f} customers/s)  budget: < 2 s")
    print(f"models: {result.models}")
    print(f"segments: {result.rfm_sizes}")


if __name__ == "__main__":
    main()
