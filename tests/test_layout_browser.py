"""The Russian card and form at 1440 px in Chromium: long labels wrap between words or not at
all, checkbox labels are not covered, dropdowns have no "---------", chart axes are not clipped.
Screenshots go to var/screenshots/ to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientbase.accounts.choices import Role
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

pytestmark = BROWSER_MARKS
SHOTS = Path("var/screenshots")


@pytest.fixture
def page(live_server, audit_purged_after) -> Iterator[object]:
    with chromium_page(viewport={"width": 1440, "height": 900}) as page:
        yield page


def line_count(page, selector: str) -> int:
    """How many lines the element's text takes."""
    return page.eval_on_selector(
        selector,
        "el => Math.round(el.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(el).lineHeight))",
    )


def test_card_and_form_fit_russian_labels(page, live_server):
    factories.make_user(role=Role.ADMIN, username="layout-admin")
    manager = factories.make_user(role=Role.MANAGER, username="layout-manager")
    customer = factories.make_customer(last_name="Длиннофамильная", manager=manager)
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, live_server.url, "layout-admin")

    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.screenshot(path=str(SHOTS / "layout-card-ru-1440.png"), full_page=True)
    assert line_count(page, "dt:text-is('Ответственный менеджер')") == 1
    assert line_count(page, "dt:text-is('Документ')") == 1

    page.goto(f"{live_server.url}/customers/{customer.pk}/edit/")
    page.screenshot(path=str(SHOTS / "layout-form-ru-1440.png"), full_page=True)
    # "Основной" ends before the "Удалить" checkbox starts, on every contact row.
    overlaps = page.evaluate(
        """() => [...document.querySelectorAll("input[name$='-is_primary']")].map(box => {
            const label = box.parentElement.querySelector('label').getBoundingClientRect();
            const row = box.closest('.row');
            const remove = row.querySelector("input[name$='-DELETE']").getBoundingClientRect();
            return label.right > remove.left;
        })"""
    )
    assert overlaps and not any(overlaps)
    options = page.eval_on_selector_all("select option", "os => os.map(o => o.textContent)")
    assert "---------" not in options and "— не выбрано —" in options


def test_segment_builder_offers_russian_labels_and_writes_codes(page, live_server):
    factories.make_user(role=Role.ADMIN, username="builder-admin")
    log_in(page, live_server.url, "builder-admin")
    page.goto(f"{live_server.url}/segments/new/")
    row = page.locator("[data-row]").first
    row.locator("[data-field]").select_option("rfm")
    choice = row.locator("[data-choice]")
    assert choice.is_visible() and not row.locator("[data-value]").is_visible()
    assert "Чемпионы" in choice.locator("option").all_text_contents()
    choice.select_option(label="Чемпионы")
    assert page.input_value("textarea[name=query]") == "rfm = champions"
    row.locator("[data-op]").select_option(label="одно из")
    assert row.locator("[data-value]").is_visible()  # a list is typed, with suggestions
    page.screenshot(path=str(SHOTS / "segment-builder-ru.png"))
