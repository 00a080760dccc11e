"""End to end in a real Chromium: log in, create a customer, find them by a differently typed
phone, edit them and see the change in the audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from clientbase.accounts.choices import Role
from clientbase.customers.models import Customer
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server, audit_purged_after) -> Iterator[object]:
    with chromium_page() as page:
        yield page


def test_create_find_by_other_phone_format_edit_and_audit(page, live_server):
    factories.make_user(role=Role.MANAGER, username="anna.manager")
    base = live_server.url

    page.goto(f"{base}/customers/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "anna.manager")
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers/$"))

    page.goto(f"{base}/customers/new/")
    page.fill("input[name=last_name]", "Смирнова")
    page.fill("input[name=first_name]", "Анна")
    page.fill("input[name='phones-0-number']", "+7 916 555 12 34")
    page.fill("input[name='emails-0-address']", " Anna.Smirnova@Example.RU ")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers/\d+/$"))
    customer = Customer.objects.get(last_name="Смирнова")
    assert customer.primary_phone == "+79165551234"
    assert customer.primary_email == "anna.smirnova@example.ru"
    assert "Смирнова Анна" in page.inner_text("h1")

    # Found by the same number typed the Russian national way.
    page.goto(f"{base}/customers/")
    page.fill("input[name=q]", "8 (916) 555-12-34")
    page.press("input[name=q]", "Enter")
    link = page.locator(f"a[href='/customers/{customer.pk}/']").first
    link.wait_for()
    assert page.locator("tbody tr").count() == 1
    link.click()
    page.wait_for_url(re.compile(rf".*/customers/{customer.pk}/$"))

    page.click(f"a[href='/customers/{customer.pk}/edit/']")
    page.fill("input[name=first_name]", "Мария")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf".*/customers/{customer.pk}/$"))
    assert "Смирнова Мария" in page.inner_text("h1")
    customer.refresh_from_db()
    assert (customer.first_name, customer.version) == ("Мария", 2)

    # An admin opens the audit log for this customer and sees the change, before and after.
    page.context.clear_cookies()
    factories.make_user(role=Role.ADMIN, username="owner")
    log_in(page, base, "owner")
    page.goto(f"{base}/audit/?object_type=customers.customer&object_id={customer.pk}")
    table = page.inner_text("main")
    assert "anna.manager" in table
    assert "Анна" in table
    assert "Мария" in table


def test_segment_builder_writes_and_reads_the_query_and_the_preview_counts(page, live_server):
    from clientbase.segments.models import Segment

    factories.make_user(role=Role.MARKETER, username="maria.marketer")
    for name in ("Альфа", "Бета"):
        factories.make_customer(kind="company", company_name=f"ООО {name}", city="Москва")
    factories.make_customer(kind="company", company_name="ООО Гамма", city="Казань")
    factories.make_customer(city="Москва")
    base = live_server.url
    log_in(page, base, "maria.marketer")

    page.goto(f"{base}/segments/new/")
    first = page.locator("#segment-builder [data-row]").first
    first.wait_for()
    first.locator("[data-field]").select_option("kind")
    first.locator("[data-op]").select_option("=")
    first.locator("[data-choice]").select_option(label="Компания")  # codes stay in the query
    page.click("#segment-builder button.btn-outline-primary")  # add a condition
    second = page.locator("#segment-builder [data-row]").nth(1)
    second.locator("[data-field]").select_option("city")
    second.locator("[data-op]").select_option("=")
    second.locator("[data-value]").fill("Москва")
    query = page.locator("#segment-form textarea[name=query]")
    assert query.input_value() == 'kind = company and city = "Москва"'
    # The live preview counts on the server: two Moscow companies.
    page.locator("#segment-preview", has_text="ООО Альфа").wait_for()
    preview = page.inner_text("#segment-preview")
    assert "ООО Бета" in preview
    assert "ООО Гамма" not in preview

    # Text typed by hand is read back into rows.
    query.fill('kind = person or city = "Казань"')
    page.click("[data-builder-read]")
    page.locator("#segment-builder [data-row]").nth(1).locator("[data-join]").wait_for()
    rows = page.locator("#segment-builder [data-row]")
    page.wait_for_function(
        "document.querySelectorAll('#segment-builder [data-row]')[1]"
        ".querySelector('[data-value]').value === 'Казань'"
    )
    assert rows.count() == 2
    assert rows.nth(1).locator("[data-join]").input_value() == "or"
    assert rows.nth(0).locator("[data-field]").input_value() == "kind"

    page.fill("#segment-form input[name=name]", "Москва, компании")
    query.fill('kind = company and city = "Москва"')
    page.click("#segment-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/segments/\d+/$"))
    segment = Segment.objects.get(name="Москва, компании")
    assert segment.query == 'kind = company and city = "Москва"'
