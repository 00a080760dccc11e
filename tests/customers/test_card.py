"""The customer card and its form: a company's contact person, one round of errors, confirming."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clientbase.core.models import AuditEvent
from clientbase.customers.choices import CustomerKind, CustomerStatus, StopListReason
from clientbase.customers.models import Customer, CustomFieldDefinition, Tag
from clientbase.customers.services import (
    CustomerInput,
    EmailInput,
    PhoneInput,
    customer_create,
    customer_stoplist_add,
    customer_update,
)
from tests import factories
from tests.customers.test_views import _new_card, form_data

pytestmark = pytest.mark.django_db

CUSTOMER = "customers.customer"


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


def _company(**fields: Any) -> Customer:
    return factories.make_customer(
        kind=CustomerKind.COMPANY,
        company_name="ООО «Ромашка»",
        last_name="Петров",
        first_name="Иван",
        middle_name="Сергеевич",
        phones=["+79161112233"],
        emails=["zakaz@romashka.ru"],
        **fields,
    )


def _section(body: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', body, re.S)
    assert match, f"no section #{section_id}"
    return match.group(0)


# ---------------------------------------------------------------- a company's contact person


def test_company_card_shows_its_contact_person_and_no_identity_document(client_for, manager_user):
    company = _company()
    body = client_for(manager_user).get(f"/customers/{company.pk}/").content.decode()
    contact = _section(body, "contact-person")
    assert "Contact person" in contact
    assert "Петров Иван Сергеевич" in contact
    assert '<a href="tel:+79161112233"' in contact
    assert "+7 916 111-22-33" in contact
    assert '<a href="mailto:zakaz@romashka.ru">zakaz@romashka.ru</a>' in contact
    assert "<dt>Document</dt>" not in body
    assert 'id="personal-details"' not in body


def test_person_card_keeps_personal_details_with_the_document(client_for, manager_user):
    person = factories.make_customer(document_type="passport_ru", document_number="4510 123456")
    body = client_for(manager_user).get(f"/customers/{person.pk}/").content.decode()
    personal = _section(body, "personal-details")
    assert "<dt>Document</dt>" in personal
    assert "4510 123456" in personal
    assert 'id="contact-person"' not in body


def test_company_form_hides_the_document_section_a_person_form_shows_it(client_for, manager_user):
    client = client_for(manager_user)
    company = _company()
    person = factories.make_customer()
    company_form = client.get(f"/customers/{company.pk}/edit/").content.decode()
    person_form = client.get(f"/customers/{person.pk}/edit/").content.decode()
    assert re.search(r'<section[^>]*id="document"[^>]*\bhidden\b', company_form)
    assert not re.search(r'<section[^>]*id="document"[^>]*\bhidden\b', person_form)
    # The hint that the names are the contact person's shows for the company only.
    assert re.search(r'<p[^>]*id="contact-person-hint"(?![^>]*\bhidden\b)', company_form)
    assert re.search(r'<p[^>]*id="contact-person-hint"[^>]*\bhidden\b', person_form)


def test_company_form_hides_gender_and_birthday_unless_they_hold_a_value(client_for, manager_user):
    client = client_for(manager_user)

    def hidden(customer: Customer) -> dict[str, bool]:
        form = client.get(f"/customers/{customer.pk}/edit/").content.decode()
        return {
            name: bool(re.search(rf'<div[^>]*id="{name}-field"[^>]*\bhidden\b', form))
            for name in ("gender", "birthday")
        }

    assert hidden(_company()) == {"gender": True, "birthday": True}
    assert hidden(factories.make_customer()) == {"gender": False, "birthday": False}
    # A value already there stays in sight so that it can be cleared.
    filled = _company(gender="male", birthday=dt.date(1980, 5, 17), confirm_duplicate=True)
    assert hidden(filled) == {"gender": False, "birthday": False}


def test_service_refuses_an_identity_document_for_a_company(manager_user):
    data = CustomerInput(
        fields={
            "kind": CustomerKind.COMPANY,
            "company_name": "ООО «Ромашка»",
            "document_type": "passport_ru",
            "document_number": "4510 123456",
        }
    )
    with pytest.raises(ValidationError) as excinfo:
        customer_create(actor=manager_user, data=data)
    assert [e.code for e in excinfo.value.error_dict["document_number"]] == ["company_document"]
    assert Customer.objects.count() == 0


def test_person_with_a_document_cannot_become_a_company_until_it_is_cleared(manager_user):
    person = factories.make_customer(document_type="passport_ru", document_number="4510 123456")
    to_company = {"kind": CustomerKind.COMPANY, "company_name": "ИП Петров"}
    with pytest.raises(ValidationError) as excinfo:
        customer_update(
            actor=manager_user,
            customer_id=person.pk,
            expected_version=person.version,
            data=CustomerInput(fields=to_company),
        )
    assert list(excinfo.value.error_dict) == ["document_number"]
    person.refresh_from_db()
    assert (person.kind, person.version) == (CustomerKind.PERSON, 1)

    cleared = {**to_company, "document_type": "", "document_number": ""}
    customer_update(
        actor=manager_user,
        customer_id=person.pk,
        expected_version=person.version,
        data=CustomerInput(fields=cleared),
    )
    person.refresh_from_db()
    assert (person.kind, person.document_number, person.version) == (CustomerKind.COMPANY, "", 2)


# ---------------------------------------------------------------- every error in one round


def _all_wrong(**overrides: Any) -> dict[str, Any]:
    """A company card wrong in every part of the form at once."""
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    return _new_card(
        kind="company",
        company_name="",
        last_name="Ошибкин",
        birthday=tomorrow.isoformat(),
        inn="7707083894",  # checksum
        kpp="12",
        bank_account="40702810000000000001",  # without a BIC
        **{
            "phones-0-number": "12345",
            "emails-0-address": "not-an-email",
            "addresses-0-city": "Самара",
            "addresses-0-line": "",
            "cf-shoe": "",
        },
        **overrides,
    )


def _reported(card: Any) -> dict[str, list[str]]:
    errors = {k: list(v) for k, v in card.main.errors.items()}
    errors["phones"] = [e for form in card.phones for e in form.errors.get("number", [])]
    errors["emails"] = [e for form in card.emails for e in form.errors.get("address", [])]
    errors["addresses"] = [e for form in card.addresses for v in form.errors.values() for e in v]
    errors["custom"] = [e for v in card.custom.errors.values() for e in v]
    return errors


ALL_ERRORS = {
    "birthday": ["Birthday cannot be in the future."],
    "inn": ["INN check digit is wrong: check the number."],
    "kpp": ["KPP must have 9 characters, e.g. 773601001."],
    "bank_bic": ["Enter the bank's BIC to check the account number."],
    "company_name": ["A company needs its legal name."],
    "phones": ["“12345” is not a valid phone number. Example: +7 916 123-45-67."],
    "emails": ["“not-an-email” is not a valid e-mail address."],
    "addresses": ["This field is required."],
    "custom": ["This field is required."],
}


def test_create_reports_every_error_in_one_round_and_saves_nothing(client_for, operator_user):
    CustomFieldDefinition.objects.create(
        key="shoe", label="Shoe size", field_type="number", required=True
    )
    response = client_for(operator_user).post("/customers/new/", _all_wrong())
    assert response.status_code == 200
    assert _reported(response.context["card"]) == ALL_ERRORS
    assert response.context["card"].section_errors == {}
    assert Customer.objects.count() == 0
    assert Tag.objects.count() == 0
    assert AuditEvent.objects.filter(object_type=CUSTOMER).count() == 0


def test_edit_reports_every_error_in_one_round_and_changes_nothing(client_for, operator_user):
    CustomFieldDefinition.objects.create(
        key="shoe", label="Shoe size", field_type="number", required=True
    )
    customer = factories.make_customer(last_name="Целов", custom_fields={"shoe": 42})
    client = client_for(operator_user)
    data = form_data(client.get(f"/customers/{customer.pk}/edit/"))
    wrong = _all_wrong()
    data.update(
        {k: v for k, v in wrong.items() if not k.endswith(("TOTAL_FORMS", "INITIAL_FORMS"))}
    )
    data["phones-0-number"] = "12345"
    response = client.post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200
    assert _reported(response.context["card"]) == ALL_ERRORS
    customer.refresh_from_db()
    assert (customer.kind, customer.last_name, customer.version) == ("person", "Целов", 1)
    assert list(customer.phones.values_list("number", flat=True)) == [customer.primary_phone]


def test_service_reports_contacts_and_card_rules_together(manager_user):
    data = CustomerInput(
        fields={"kind": CustomerKind.COMPANY, "company_name": "", "inn": "7707083894"},
        phones=[PhoneInput("12345")],
        emails=[EmailInput("not-an-email")],
    )
    with pytest.raises(ValidationError) as excinfo:
        customer_create(actor=manager_user, data=data)
    assert sorted(excinfo.value.error_dict) == ["company_name", "emails", "inn", "phones"]
    assert Customer.objects.count() == 0


# ---------------------------------------------------------------- destructive actions confirm


def _action_forms(body: str) -> list[str]:
    return re.findall(r'<form[^>]*action="([^"]+)"', body)


def test_archive_asks_for_confirmation_on_its_own_page(client_for, operator_user):
    customer = factories.make_customer(last_name="Архивов")
    client = client_for(operator_user)
    card = client.get(f"/customers/{customer.pk}/").content.decode()
    # The card links to the confirmation; nothing on it posts the archive directly.
    assert f'href="/customers/{customer.pk}/archive/"' in card
    assert f"/customers/{customer.pk}/archive/" not in _action_forms(card)

    page = client.get(f"/customers/{customer.pk}/archive/")
    assert page.status_code == 200
    customer.refresh_from_db()
    assert (customer.status, customer.version) == (CustomerStatus.ACTIVE, 1)
    body = page.content.decode()
    assert "Архивов" in body
    confirm = form_data(page)
    assert confirm["version"] == "1"
    assert f"/customers/{customer.pk}/archive/" in _action_forms(body)

    response = client.post(f"/customers/{customer.pk}/archive/", confirm)
    assert response["Location"] == f"/customers/{customer.pk}/"
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ARCHIVED


def test_removing_from_the_stoplist_asks_for_confirmation(client_for, manager_user):
    customer = factories.make_customer(last_name="Стопов")
    customer_stoplist_add(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        reason=StopListReason.FRAUD,
        comment="чарджбэк",
    )
    client = client_for(manager_user)
    card = client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'href="/customers/{customer.pk}/stoplist/remove/"' in card
    assert f"/customers/{customer.pk}/stoplist/remove/" not in _action_forms(card)

    page = client.get(f"/customers/{customer.pk}/stoplist/remove/")
    assert page.status_code == 200
    assert "чарджбэк" in page.content.decode()  # the reason is in front of whoever lifts it
    customer.refresh_from_db()
    assert (customer.status, customer.version) == (CustomerStatus.STOPLISTED, 2)

    client.post(f"/customers/{customer.pk}/stoplist/remove/", form_data(page))
    customer.refresh_from_db()
    assert (customer.status, customer.stoplist_reason) == (CustomerStatus.ACTIVE, "")


def test_confirmation_pages_keep_their_permissions(client_for, operator_user, make_user):
    from clientbase.accounts.choices import Role

    customer = factories.make_customer()
    analyst = make_user(role=Role.ANALYST)
    assert client_for(analyst).get(f"/customers/{customer.pk}/archive/").status_code == 403
    assert (
        client_for(operator_user).get(f"/customers/{customer.pk}/stoplist/remove/").status_code
        == 403
    )


def test_tag_and_customer_deletion_do_nothing_on_get(client_for, admin_user):
    customer = factories.make_customer(tags=["опт"])
    tag = Tag.objects.get(name="опт")
    client = client_for(admin_user)
    assert client.get(f"/customers/tags/{tag.pk}/delete/").status_code == 200
    assert client.get(f"/customers/{customer.pk}/delete/").status_code == 200
    assert Tag.objects.filter(pk=tag.pk).exists()
    assert Customer.objects.filter(pk=customer.pk).exists()
    tag_list = client.get("/customers/tags/").content.decode()
    assert f'href="/customers/tags/{tag.pk}/delete/"' in tag_list
