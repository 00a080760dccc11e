"""What the benchmarks share: running the `clientbase` command and keeping a demo base."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTBASE = str(ROOT / ".venv" / "bin" / "clientbase")


def run(env: dict[str, str], *args: str) -> str:
    """`clientbase ARGS` with this environment; its standard output."""
    return subprocess.run(
        [CLIENTBASE, *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def sqlite_env(data_dir: Path) -> dict[str, str]:
    """The environment of an embedded (SQLite) base in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CLIENTBASE_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    return env


def demo_base(data_dir: Path, *, customers: int, orders: int, seed: int) -> dict[str, str]:
    """A migrated SQLite base holding `clientbase demo` data, kept between runs."""
    env = sqlite_env(data_dir)
    run(env, "migrate", "--no-input")
    db_path = data_dir / "clientbase.sqlite3"
    with sqlite3.connect(db_path) as db:
        have = db.execute("SELECT COUNT(*) FROM customers_customer").fetchone()[0]
    if have < customers:
        if have:
            raise SystemExit(f"{db_path} holds {have} customers; remove it to refill")
        start = time.perf_counter()
        print(
            run(
                env,
                "demo",
                "--customers",
                str(customers),
                "--orders",
                str(orders),
                "--seed",
                str(seed),
            )
        )
        print(f"filled {customers:,} customers in {time.perf_counter() - start:.0f} s")
    return env
