"""Running the real `clientbase` command in a subprocess, on the test database or a fresh one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from django.db import connection

# Variables of the developer's shell or of `make test` that must not leak into a child that
# is meant to see a clean environment.
_CLIENTBASE_VARS = (
    "CLIENTBASE_ENV",
    "CLIENTBASE_TESTING",
    "CLIENTBASE_DATA_DIR",
    "CLIENTBASE_DEBUG",
    "DATABASE_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "ALLOWED_HOSTS",
    "REDIS_URL",
    "BACKUP_DIR",
    # Set by the browser tests (Playwright in the same process); check --deploy rejects it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without clientbase settings, in English, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _CLIENTBASE_VARS}
    env["LANGUAGE_CODE"] = "en"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def child_db_url() -> str:
    """DATABASE_URL of the database this test run uses (SQLite file or PostgreSQL)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(str(db['NAME'])).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """A child that works on this test's database, with the test settings (fast hashers)."""
    return clean_env(
        DATABASE_URL=child_db_url(),
        CLIENTBASE_TESTING="1",
        CLIENTBASE_DATA_DIR=os.environ.get("CLIENTBASE_DATA_DIR", "var/test"),
        **extra,
    )


def run_cli(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clientbase.cli", *args],
        env=dict(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
