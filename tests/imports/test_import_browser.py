"""An import in a real Chromium: upload a Russian CSV, change a column, dry run, import."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clientbase.accounts.choices import Role
from clientbase.customers.models import Customer
from clientbase.imports.models import ImportJob
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

SCREENSHOT = Path(
    os.environ.get("CLIENTBASE_IMPORT_SCREENSHOT")
    or Path(tempfile.gettempdir()) / "import-mapping.png"
)

pytestmark = BROWSER_MARKS

CSV = (
    "ФИО;Телефон;Почта;Дата рождения;Город;Комментарий\n"
    "Иванов Иван Иванович;8 (916) 123-45-67;ivan@example.ru;24.08.1990;Москва;постоянный\n"
    "Петрова Мария;+7 916 765 43 21;maria@example.ru;01.03.1985;Казань;\n"
    ";не телефон;;;Тула;\n"
    "Иванов Иван Иванович;89161234567;ivan@example.ru;24.08.1990;Москва;дубль\n"
)


@pytest.fixture
def page(live_server: Any, audit_purged_after: Any, settings: Any, tmp_path: Path) -> Iterator[Any]:
    # The live server runs in this process, so the settings fixture reaches it.
    settings.DATA_DIR = tmp_path / "data"
    settings.IMPORT_BACKUP = False
    with chromium_page(viewport={"width": 1400, "height": 900}) as page:
        yield page


def test_upload_change_a_column_dry_run_and_import(page: Any, live_server: Any, tmp_path: Path):
    factories.make_user(role=Role.MANAGER, username="anna.manager")
    source = tmp_path / "клиенты.csv"
    source.write_bytes(CSV.encode("cp1251"))
    base = live_server.url
    log_in(page, base, "anna.manager")

    page.click("nav a[href='/imports/']")
    page.wait_for_url(re.compile(r".*/imports/$"))
    page.click("a[href='/imports/new/']")
    page.set_input_files("input[type=file]", str(source))
    assert page.inner_text("[data-drop-name]") == "клиенты.csv"
    page.click("#import-upload button[type=submit]")
    page.wait_for_url(re.compile(r".*/imports/\d+/mapping/$"))
    job = ImportJob.objects.get()

    mapping = page.locator("#import-mapping")
    assert page.locator("select[name=col_0]").input_value() == "full_name"
    assert page.locator("select[name=col_5]").input_value() == "notes"
    assert "8 (916) 123-45-67" in mapping.inner_text()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The comment column is not wanted in the base.
    page.select_option("select[name=col_5]", "")
    page.click("#import-mapping button[value=preview]")
    page.wait_for_url(re.compile(rf".*/imports/{job.pk}/preview/$"))
    counts = {
        name: page.inner_text(f"#import-counts [data-count={name}]").strip()
        for name in ("created", "updated", "unchanged", "rejected")
    }
    assert counts == {"created": "2", "updated": "0", "unchanged": "1", "rejected": "1"}
    assert "не телефон" in page.inner_text("#import-rejects")
    assert not Customer.objects.exists()

    page.click(f"form[action='/imports/{job.pk}/start/'] button[type=submit]")
    page.wait_for_url(re.compile(rf".*/imports/{job.pk}/$"))
    counts = {
        name: page.inner_text(f"#import-status [data-count={name}]").strip()
        for name in ("created", "updated", "unchanged", "rejected")
    }
    assert counts == {"created": "2", "updated": "0", "unchanged": "1", "rejected": "1"}
    assert sorted(Customer.objects.values_list("last_name", flat=True)) == ["Иванов", "Петрова"]
    assert Customer.objects.get(last_name="Иванов").notes == ""


def test_the_job_page_follows_a_background_import(page: Any, live_server: Any, tmp_path: Path):
    manager = factories.make_user(role=Role.MANAGER, username="anna.manager")
    job = ImportJob.objects.create(
        kind="customers",
        status="running",
        created_by=manager,
        original_name="big.csv",
        file_path="imports/none/source-big.csv",
        rows_total=200_000,
        rows_done=50_000,
    )
    base = live_server.url
    log_in(page, base, "anna.manager")
    page.goto(f"{base}/imports/{job.pk}/")
    bar = page.locator("#import-status .progress-bar")
    assert bar.inner_text() == "25%"

    # The worker moves on; the page polls every two seconds and the bar follows.
    ImportJob.objects.filter(pk=job.pk).update(rows_done=150_000)
    page.wait_for_function(
        "document.querySelector('#import-status .progress-bar')?.textContent === '75%'"
    )
    ImportJob.objects.filter(pk=job.pk).update(
        status="done", rows_done=200_000, rows_created=199_000, rows_rejected=1_000
    )
    page.locator("#import-status [data-count=created]").wait_for()
    assert page.locator("#import-status .progress").count() == 0
    assert page.inner_text("#import-status [data-count=created]").replace("\xa0", " ") in (
        "199 000",
        "199,000",
        "199\u202f000",
    )
