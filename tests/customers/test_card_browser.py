"""The customer form and card in a real Chromium: what a company shows, errors in one round."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientbase.customers.models import Customer
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

pytestmark = BROWSER_MARKS

SCREENSHOTS = Path("var/screenshots")


@pytest.fixture
def page(live_server, audit_purged_after) -> Iterator[object]:
    with chromium_page(viewport={"width": 1440, "height": 900}) as page:
        yield page


def test_company_form_hides_the_document_and_reports_every_error_at_once(
    page, live_server, manager_user
):
    base = live_server.url
    log_in(page, base, manager_user.username)
    page.goto(f"{base}/customers/new/")
    assert page.is_visible("#document")
    assert not page.is_visible("#contact-person-hint")

    page.select_option("select[name=kind]", "company")
    assert not page.is_visible("#document")
    assert page.is_visible("#contact-person-hint")
    page.select_option("select[name=kind]", "person")
    assert page.is_visible("#document")
    # A document already typed keeps its section in sight for a company: it must be cleared.
    page.fill("input[name=document_number]", "4510 123456")
    page.select_option("select[name=kind]", "company")
    assert page.is_visible("#document")
    page.fill("input[name=document_number]", "")

    page.fill("input[name=last_name]", "Петров")
    page.fill("input[name=inn]", "7707083894")
    page.fill("input[name='emails-0-address']", "not-an-email")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/customers/new/$"))
    errors = page.locator(".invalid-feedback").all_inner_texts()
    assert any("e-mail" in e for e in errors), errors
    assert any("ИНН" in e for e in errors), errors
    assert any("юридическое наименование" in e for e in errors), errors
    assert not page.is_visible("#document")
    assert Customer.objects.count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "customer_form_errors.png"), full_page=True)


def test_company_form_hides_gender_and_birthday_as_it_hides_the_document(
    page, live_server, manager_user
):
    base = live_server.url
    log_in(page, base, manager_user.username)
    page.goto(f"{base}/customers/new/")
    assert page.is_visible("#gender-field") and page.is_visible("#birthday-field")
    page.select_option("select[name=kind]", "company")
    assert not page.is_visible("#gender-field") and not page.is_visible("#birthday-field")
    page.select_option("select[name=kind]", "person")
    # A birthday already typed stays in sight for a company, so that it can be cleared.
    page.fill("input[name=birthday]", "1980-05-17")
    page.select_option("select[name=kind]", "company")
    assert page.is_visible("#birthday-field") and not page.is_visible("#gender-field")


def test_company_card_shows_the_contact_person(page, live_server, operator_user):
    company = factories.make_customer(
        kind="company",
        company_name="ООО «Ромашка»",
        last_name="Петров",
        first_name="Иван",
        phones=["+79161112233"],
    )
    base = live_server.url
    log_in(page, base, operator_user.username)
    page.goto(f"{base}/customers/{company.pk}/")
    contact = page.inner_text("#contact-person")
    assert "Контактное лицо" in contact
    assert "Петров Иван" in contact
    assert "+7 916 111-22-33" in contact
    assert page.locator("text=Документ, удостоверяющий личность").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "customer_card_company.png"), full_page=True)
