"""The customer list in a real Chromium: column headers sort, the city field offers the known
cities, a phone's last digits find the caller, an invalid filter shows nobody."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientbase.accounts.choices import Role
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

pytestmark = BROWSER_MARKS

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def page(live_server, audit_purged_after) -> Iterator[object]:
    with chromium_page(viewport={"width": 1440, "height": 900}) as page:
        yield page


def names(page) -> list[str]:
    return [t.split()[0] for t in page.locator("tbody td:nth-child(1) a").all_inner_texts()]


def test_list_sorts_suggests_cities_and_refuses_invalid_filters(page, live_server):
    factories.make_user(role=Role.OPERATOR, username="olga.operator")
    for last_name, city, phone in (
        ("Борисов", "москва", "+79161234567"),
        ("Аверин", "Казань", "+79035550001"),
        ("Волков", "г. Магадан", "+79037774567"),
    ):
        factories.make_customer(last_name=last_name, city=city, phones=[phone])
    base = live_server.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, base, "olga.operator")
    assert names(page) == ["Аверин", "Борисов", "Волков"]

    # The City header sorts by city, then the same header reverses it; the form follows.
    page.click("thead a:has-text('Город')")
    page.wait_for_url(re.compile(r".*sort=city"))
    page.locator("th[aria-sort=ascending]:has-text('Город')").wait_for()
    assert names(page) == ["Аверин", "Волков", "Борисов"]  # Казань, Магадан, Москва
    assert page.input_value("select[name=sort]") == "city"
    page.click("thead a:has-text('Город')")
    page.wait_for_url(re.compile(r".*sort=-city"))
    page.locator("th[aria-sort=descending]:has-text('Город')").wait_for()
    assert names(page) == ["Борисов", "Волков", "Аверин"]
    assert page.input_value("select[name=sort]") == "-city"
    page.screenshot(path=str(SCREENSHOTS / "c1_list_sorted_by_city.png"), full_page=True)

    # Typing a city offers the known ones in their stored form.
    page.fill("input[name=city]", "ма")
    page.wait_for_function("document.querySelectorAll('#city-options option').length === 1")
    assert page.get_attribute("#city-options option", "value") == "Магадан"

    # The last four digits of a phone, as a call centre asks for them.
    page.goto(f"{base}/customers/")
    page.fill("input[name=q]", "45-67")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r".*q=45-67"))
    page.locator("tbody tr").nth(1).wait_for()
    assert names(page) == ["Борисов", "Волков"]

    # An invalid filter: what is wrong, and nobody.
    page.goto(f"{base}/customers/?birth_month=13&city=москва")
    alert = page.locator(".alert-warning")
    assert "Клиенты не показаны" in alert.inner_text()
    assert page.locator("tbody tr").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "c1_list_invalid_filter.png"), full_page=True)
