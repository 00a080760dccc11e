"""Orders pushed through the REST API per second, and caller lookup latency over HTTP.

One client process sends requests one after another to one `clientbase serve` process, as a
shop's website would. Part 1 pushes new orders (each with a new or returning customer, two
items and an Idempotency-Key) and then status changes, on SQLite and, when PostgreSQL
answers, on PostgreSQL. Part 2 looks callers up by phone, typed the national way, in the big
base that bench/customer_list.py fills (1M customers by default).

    .venv/bin/python bench/api_orders.py [--orders 2000] [--lookups 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sqlite3
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from _base import CLIENTBASE, ROOT, run, sqlite_env

PG_URL = "postgres://postgres@127.0.0.1:5432/clientbase_bench"


def token_for(env: dict[str, str], scopes: str) -> str:
    out = run(
        env, "apitoken", "create", "--name", f"bench-{uuid.uuid4().hex[:6]}", "--scopes", scopes
    )
    found = re.search(r"\bcb_[A-Za-z0-9_-]+", out)
    if not found:
        raise SystemExit("apitoken create printed no token")
    return found.group(0)


class Server:
    def __init__(self, env: dict[str, str], port: int):
        self.port = port
        self.process = subprocess.Popen(
            [CLIENTBASE, "serve", "--no-worker", "--port", str(port)],
            env={**env, "API_RATE_LIMIT": "1000000/min"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


class Client:
    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.auth = f"Bearer {token}"

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        headers = {"Authorization": self.auth}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = uuid.uuid4().hex
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def order_body(n: int, rng: random.Random) -> dict:
    customer = rng.randint(1, max(1, n // 3 + 1))  # about three orders per customer
    return {
        "external_id": f"B{n:07d}",
        "source": "website",
        "payment_method": rng.choice(["card", "card", "cod"]),
        "delivery_cost": "300.00",
        "items": [
            {
                "sku": "K-1",
                "name": "Чайник",
                "category": "Кухня",
                "quantity": 1,
                "price": "1990.00",
            },
            {
                "sku": "T-2",
                "name": "Полотенце",
                "category": "Текстиль",
                "quantity": 2,
                "price": "450.00",
            },
        ],
        "customer": {
            "external_id": f"site-{customer}",
            "email": f"buyer{customer}@example.ru",
            "phone": f"+7916{customer:07d}",
            "first_name": "Покупатель",
            "last_name": f"Тестов{customer}",
        },
    }


def bench_orders(label: str, env: dict[str, str], orders: int, port: int) -> None:
    run(env, "migrate", "--no-input")
    token = token_for(env, "customers:write,orders:write,customers:lookup")
    server = Server(env, port)
    try:
        client = Client(port, token)
        rng = random.Random(3)
        start = time.perf_counter()
        ids = []
        for n in range(orders):
            status, data = client.call("POST", "/api/v1/orders/", order_body(n, rng))
            if status not in (200, 201):
                raise SystemExit(f"POST /api/v1/orders/ -> {status}: {data}")
            ids.append(data["id"])
        created = time.perf_counter() - start
        start = time.perf_counter()
        for order_id in ids:
            status, data = client.call(
                "POST", f"/api/v1/orders/{order_id}/status/", {"status": "delivered"}
            )
            if status != 200:
                raise SystemExit(f"status change -> {status}: {data}")
        changed = time.perf_counter() - start
    finally:
        server.stop()
    print(
        f"{label:11} {orders} new orders in {created:5.1f} s = {orders / created:6.0f} orders/s;"
        f" status changes {orders / changed:6.0f}/s"
    )


def bench_lookup(data_dir: Path, lookups: int, port: int) -> None:
    db_path = data_dir / "clientbase.sqlite3"
    if not db_path.exists():
        print(f"lookup: no base at {data_dir}; run bench/customer_list.py first")
        return
    env = sqlite_env(data_dir)
    run(env, "migrate", "--no-input")
    with sqlite3.connect(db_path) as db:
        total = db.execute("SELECT MAX(id) FROM customers_customer").fetchone()[0]
        rng = random.Random(5)
        ids = [rng.randint(1, total) for _ in range(lookups)]
        phones = [
            row[0]
            for i in ids
            for row in db.execute("SELECT primary_phone FROM customers_customer WHERE id = ?", (i,))
            if row[0]
        ]
    token = token_for(env, "customers:lookup")
    server = Server(env, port)
    try:
        client = Client(port, token)
        national = [f"8 ({p[2:5]}) {p[5:8]}-{p[8:10]}-{p[10:]}" for p in phones]
        for phone in national[:10]:  # warm-up
            client.call("GET", "/api/v1/customers/lookup?phone=" + phone.replace(" ", "%20"))
        times = []
        for phone in national:
            start = time.perf_counter()
            status, _ = client.call(
                "GET", "/api/v1/customers/lookup?phone=" + phone.replace(" ", "%20")
            )
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"lookup -> HTTP {status}")
        missing = []
        for n in range(50):
            start = time.perf_counter()
            status, _ = client.call("GET", f"/api/v1/customers/lookup?phone=%2B7999{n:07d}")
            missing.append((time.perf_counter() - start) * 1000)
    finally:
        server.stop()
    print(
        f"lookup over HTTP, {total:,} customers: found p50 {statistics.median(times):.1f} ms,"
        f" p99 {pct(times, 0.99):.1f} ms ({len(times)} calls); not found p50"
        f" {statistics.median(missing):.1f} ms"
    )


def pg_answers() -> bool:
    try:
        import psycopg

        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--port", type=int, default=8798)
    parser.add_argument("--lookup-data-dir", default=str(ROOT / "var" / "bench-list"))
    args = parser.parse_args()

    sqlite_dir = ROOT / "var" / "bench-api"
    if (sqlite_dir / "clientbase.sqlite3").exists():
        (sqlite_dir / "clientbase.sqlite3").unlink()
    env = sqlite_env(sqlite_dir)
    print("Orders through POST /api/v1/orders/ (one client, one server process):")
    bench_orders("SQLite", env, args.orders, args.port)
    if pg_answers():
        import psycopg

        with psycopg.connect(
            "postgres://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute("DROP DATABASE IF EXISTS clientbase_bench")
            conn.execute("CREATE DATABASE clientbase_bench")
        bench_orders("PostgreSQL", {**env, "DATABASE_URL": PG_URL}, args.orders, args.port + 1)
    else:
        print("PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
    bench_lookup(Path(args.lookup_data_dir), args.lookups, args.port + 2)


if __name__ == "__main__":
    main()
