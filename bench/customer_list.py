"""Customer list and search latency over HTTP with a big base (default 1M customers, SQLite).

Fills a base in its own data directory with `clientbase demo` (kept between runs), starts
`clientbase serve` without the worker, logs in as an admin and times real page loads:
the first page in each sort, filtered pages, ten pages deep through the cursor, and searches
by phone typed in another format, by its last four digits, by e-mail, by the start of an e-mail
and by name. Prints p50/p95/p99 per scenario.

    .venv/bin/python bench/customer_list.py [--customers 1000000] [--requests 60]
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from _base import CLIENTBASE, ROOT, demo_base, run

PASSWORD = "bench-password-Kx93"  # noqa: S105 - a throwaway bench base


class Session:
    """A logged-in keep-alive HTTP session (cookies by hand: no extra dependency)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = "http://127.0.0.1/"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, username: str) -> None:
        self.request("GET", "/accounts/login/")
        form = urllib.parse.urlencode(
            {
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.cookies["csrftoken"],
            }
        )
        status, _ = self.request("POST", "/accounts/login/", form)
        if status != 302:
            raise SystemExit(f"log-in failed with HTTP {status}")


def timed(session: Session, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        status, _ = session.request("GET", path)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} -> HTTP {status}")
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def national(e164: str) -> str:
    """+79161234567 -> '8 (916) 123-45-67': how an operator would type it."""
    d = e164[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60, help="requests per scenario")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-list"))
    args = parser.parse_args()

    data_dir = Path(args.data_dir)
    env = demo_base(data_dir, customers=args.customers, orders=0, seed=7)
    db_path = data_dir / "clientbase.sqlite3"
    run(
        env,
        "shell",
        "-c",
        "from clientbase.accounts.models import User\n"
        "u, _ = User.objects.get_or_create(username='bench', defaults={'role': 'admin'})\n"
        f"u.role = 'admin'; u.set_password('{PASSWORD}'); u.save()\n",
    )
    run(
        env,
        "shell",
        "-c",
        "from django.db import connection\nconnection.cursor().execute('ANALYZE')",
    )

    with sqlite3.connect(db_path) as db:
        total = db.execute("SELECT MAX(id) FROM customers_customer").fetchone()[0]
        rng = random.Random(1)
        sample_ids = [rng.randint(1, total) for _ in range(args.requests)]
        marks = ",".join("?" * len(sample_ids))
        # Only "?" placeholders are formatted into the statement.
        samples = db.execute(
            "SELECT c.primary_phone, c.primary_email, c.last_name FROM customers_customer c "  # noqa: S608
            f"WHERE c.id IN ({marks}) AND c.primary_phone != '' AND c.primary_email != ''",
            sample_ids,
        ).fetchall()
        tag_id = db.execute("SELECT id FROM customers_tag ORDER BY name LIMIT 1").fetchone()[0]

    server = subprocess.Popen(
        [CLIENTBASE, "serve", "--no-worker", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request(
                    "GET", "/healthz"
                )
                break
            except OSError:
                time.sleep(0.2)
        session = Session(args.port)
        session.login("bench")
        n = args.requests

        _, first = session.request("GET", "/customers/")
        cursor_paths = []
        body = first
        for _ in range(10):
            found = re.search(r'href="\?[^"]*after=([A-Za-z0-9_-]+)', body)
            if not found:
                break
            path = f"/customers/?after={found.group(1)}"
            cursor_paths.append(path)
            _, body = session.request("GET", path)

        def qs(**params: object) -> str:
            return "/customers/?" + urllib.parse.urlencode(params)

        scenarios = {
            "list, first page (by name)": [qs()] * n,
            "list, newest first": [qs(sort="newest")] * n,
            "list, 10 pages deep (cursor)": (cursor_paths * (n // max(1, len(cursor_paths)) + 1))[
                :n
            ],
            "filter city = Москва": [qs(city="Москва")] * n,
            "filter status = stop-list": [qs(status="stoplisted")] * n,
            "filter kind = company": [qs(kind="company")] * n,
            "filter tag": [qs(tag=tag_id)] * n,
            "filter birthday month = 5": [qs(birth_month=5)] * n,
            "search phone '8 (9xx) …'": [qs(q=national(p)) for p, _, _ in samples],
            "search e-mail": [qs(q=e) for _, e, _ in samples],
            "search name prefix": [qs(q=last[:5]) for _, _, last in samples],
            "search phone, last 4 digits": [qs(q=p[-4:-2] + "-" + p[-2:]) for p, _, _ in samples],
            "search e-mail start (6 letters)": [qs(q=e.split("@")[0][:6]) for _, e, _ in samples],
            "list by city": [qs(sort="city")] * n,
            "list by name, Z to A": [qs(sort="-name")] * n,
            "filter city = москва (any case)": [qs(city="москва")] * n,
        }
        print(f"\n{total:,} customers, SQLite, {n} requests per scenario, one client over HTTP")
        print(f"{'scenario':34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for name, paths in scenarios.items():
            timed(session, paths[:3])  # warm caches
            times = timed(session, paths)
            print(
                f"{name:34} {statistics.median(times):8.1f} {pct(times, 0.95):8.1f}"
                f" {pct(times, 0.99):8.1f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
