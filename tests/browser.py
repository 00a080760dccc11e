"""What the Chromium tests share: where Chromium is, their marks, a page, logging in."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests import factories

CHROMIUM = Path(os.environ.get("CLIENTBASE_CHROMIUM", "/usr/bin/chromium"))

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not shutil.which("chromium"),
        reason=f"needs Chromium at {CHROMIUM} (Debian package 'chromium')",
    ),
]

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# ordinary synchronous code, so Django's async guard does not apply to them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@contextmanager
def chromium_page(**context_options: Any) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium, Russian unless told otherwise."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(**{"locale": "ru-RU", **context_options})
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # ORM calls made while Playwright's loop runs get their own connection (Django
            # keys connections by async context); close it so the test database can be dropped.
            connections.close_all()


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers/$"))
