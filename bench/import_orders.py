"""Order file import, full pipeline: a 1M-row Russian order CSV into an empty SQLite base.

    .venv/bin/python bench/import_orders.py [--rows 1000000] [--profile]

Generates the file once (/tmp/clientbase-bench/orders-<rows>.csv, UTF-8, ";"): some 200,000
customers named by customer id, phone (in several national forms) and e-mail, with their
names; order number, date in two forms, status and payment in Russian words, total; about a
third of the orders list their items, one row per item with the order's fields repeated,
the others are one row each. Then, in a child process with a fresh CLIENTBASE_DATA_DIR and
the backup off, runs `imports.services.import_file` (read, recognise, normalise, match or
create customers, write orders, items, status history, statistics), and prints rows/s and
the child's peak memory (maximum resident set). A second run of the same file measures
"re-import changes nothing". --profile writes a cProfile of the first run beside the file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _base import ROOT, sqlite_env

FOLDER = Path(tempfile.gettempdir()) / "clientbase-bench"
LAST = ["Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Волков", "Соколов"]
FIRST = ["Иван", "Пётр", "Алексей", "Сергей", "Дмитрий", "Андрей", "Анна", "Мария"]
STATUSES = ["Доставлен"] * 8 + ["Отменён", "Возврат", "Новый", "Отказ"]
PAYMENTS = ["Картой", "Наложенный платёж", "Картой", "Онлайн"]
PRODUCTS = [("Чай зелёный", "T-001", 390), ("Кофе в зёрнах", "K-017", 1290),
            ("Кружка", "M-200", 450), ("Шоколад", "C-033", 180), ("Мёд", "H-005", 890)]  # fmt: skip
HEADER = (
    "Номер заказа;Дата заказа;ID клиента;Покупатель;Телефон;Email;Сумма заказа;Статус;"
    "Способ оплаты;Товар;Артикул;Количество;Цена\n"
)


def generate(path: Path, rows: int, customers: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    written = 0
    number = 100_000
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        while written < rows:
            number += 1
            n = int(customers * rng.random() ** 1.5)  # some customers buy far more often
            digits = f"9{(160_000_000 + n * 7919) % 1_000_000_000:09d}"
            phone = rng.choice(
                [f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}", f"+7{digits}"]
            )
            name = f"{LAST[n % len(LAST)]} {FIRST[n % len(FIRST)]}"
            day = rng.randint(1, 28)
            month = rng.randint(1, 12)
            year = rng.choice((2023, 2024, 2025))
            hour, minute = rng.randint(8, 22), rng.randint(0, 59)
            placed = rng.choice(
                [
                    f"{day:02d}.{month:02d}.{year} {hour:02d}:{minute:02d}",
                    f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:00",
                ]
            )
            head = [
                str(number),
                placed,
                f"C{n:07d}",
                name,
                phone,
                f"client{n}@mail.ru",
            ]
            tail = [rng.choice(STATUSES), rng.choice(PAYMENTS)]
            if rng.random() < 0.35:
                lines = rng.sample(PRODUCTS, rng.randint(1, 3))
                total = sum(price * (i % 2 + 1) for i, (_n, _s, price) in enumerate(lines))
                for i, (product, sku, price) in enumerate(lines):
                    row = [*head, f"{total} ₽", *tail, product, sku, str(i % 2 + 1), str(price)]
                    out.write(";".join(row) + "\n")
                    written += 1
            else:
                total = rng.randint(3, 400) * 50 + rng.choice((0, 90, 99))
                out.write(";".join([*head, f"{total},00", *tail, "", "", "", ""]) + "\n")
                written += 1


def child(path: Path, profile: bool) -> None:
    """Runs inside the fresh base: two imports of the file, figures as JSON on stdout."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbase.settings")
    django.setup()
    from django.core.management import call_command

    from clientbase.imports.services import import_file

    call_command("migrate", verbosity=0)
    figures = []
    for run in range(2):
        started = time.perf_counter()
        if profile and run == 0:
            import cProfile

            profiler = cProfile.Profile()
            job = profiler.runcall(import_file, actor=None, kind="orders", path=path)
            profiler.dump_stats(str(path.with_suffix(".prof")))
        else:
            job = import_file(actor=None, kind="orders", path=path)
        seconds = time.perf_counter() - started
        figures.append(
            {
                "seconds": seconds,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "status": job.status,
                **{k: job.report[k] for k in ("rows", "created", "updated", "unchanged")},
                "rejected": job.report["rejected"],
                "mapping": {job.headers[int(i)]: f for i, f in job.mapping.items()},
            }
        )
    from clientbase.customers.models import Customer
    from clientbase.orders.models import Order, OrderItem

    figures.append(
        {
            "orders": Order.objects.count(),
            "items": OrderItem.objects.count(),
            "customers": Customer.objects.count(),
        }
    )
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile)
        return
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"orders-{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows, args.customers)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s")
    data_dir = FOLDER / "base"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**sqlite_env(data_dir), "IMPORT_BACKUP": "false"}
    command = [sys.executable, __file__, "--child", str(path)]
    if args.profile:
        command.append("--profile")
    output = subprocess.run(
        command, env=env, check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    first, again, counts = json.loads(output.strip().splitlines()[-1])
    rows = first["rows"]
    size_mb = path.stat().st_size / 1024 / 1024
    print(f"mapping: {first['mapping']}")
    print(
        f"import {rows:,} rows ({size_mb:.0f} MB): {first['seconds']:.1f} s = "
        f"{rows / first['seconds']:,.0f} rows/s; peak memory {first['peak_mb']:.0f} MB"
    )
    print(
        "  orders created {created:,}, updated {updated:,}, unchanged {unchanged:,}, "
        "rejected {rejected:,}".format(**first)
    )
    print("  base: {orders:,} orders, {items:,} items, {customers:,} customers".format(**counts))
    print(
        f"re-import of the same file: {again['seconds']:.1f} s = "
        f"{rows / again['seconds']:,.0f} rows/s; "
        "created {created:,}, updated {updated:,}, unchanged {unchanged:,}, "
        "rejected {rejected:,}".format(**again)
    )


if __name__ == "__main__":
    main()
