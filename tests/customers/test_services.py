"""Customer services against the real database: validation, audit, versions, bulk actions."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.crypto import decrypt
from clientbase.core.errors import ConflictError, DomainError, DuplicateWarning
from clientbase.core.models import AuditEvent
from clientbase.customers.choices import (
    CustomerKind,
    CustomerStatus,
    CustomFieldType,
    PhoneKind,
    StopListReason,
    TimelineKind,
)
from clientbase.customers.models import (
    CUSTOM_TEXT_MAX_LENGTH,
    Address,
    Consent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    CustomFieldDefinition,
    Tag,
    TimelineEvent,
)
from clientbase.customers.services import (
    AddressInput,
    ConsentInput,
    CustomerInput,
    EmailInput,
    PhoneInput,
    customer_create,
    customer_delete,
    customer_snapshot,
    customer_status_set,
    customer_stoplist_add,
    customer_update,
    customers_bulk_assign_manager,
    customers_bulk_tag,
)
from tests import factories

pytestmark = pytest.mark.django_db

DOCUMENT = "4510 987654"


@pytest.fixture(autouse=True)
def english_messages():
    """Messages are asserted in English; the suite's default language is Russian."""
    with translation.override("en"):
        yield


def counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "phones": CustomerPhone.objects.count(),
        "emails": CustomerEmail.objects.count(),
        "addresses": Address.objects.count(),
        "consents": Consent.objects.count(),
        "audit": AuditEvent.objects.count(),
        "timeline": TimelineEvent.objects.count(),
    }


def audit_rows(customer_id: int, action: str | None = None) -> list[AuditEvent]:
    rows = AuditEvent.objects.filter(object_type="customers.customer", object_id=str(customer_id))
    if action:
        rows = rows.filter(action=action)
    return list(rows.order_by("id"))


def all_audit_text() -> str:
    return json.dumps(
        list(AuditEvent.objects.values("object_repr", "changes", "extra", "actor_name")),
        ensure_ascii=False,
        default=str,
    )


def error_codes(exc: ValidationError, key: str) -> list[str | None]:
    return [e.code for e in exc.error_dict[key]]


def full_state(customer_id: int) -> dict:
    """Everything a refused write must leave untouched."""
    customer = Customer.objects.get(pk=customer_id)
    fields = {f.attname: getattr(customer, f.attname) for f in Customer._meta.concrete_fields}
    return {
        "fields": fields,
        "snapshot": customer_snapshot(customer),
        "phones": list(CustomerPhone.objects.filter(customer_id=customer_id).values()),
        "emails": list(CustomerEmail.objects.filter(customer_id=customer_id).values()),
        "addresses": list(Address.objects.filter(customer_id=customer_id).values()),
        "timeline": TimelineEvent.objects.filter(customer_id=customer_id).count(),
        "audit": AuditEvent.objects.count(),
    }


def full_input(**fields) -> CustomerInput:
    base = {
        "kind": CustomerKind.PERSON,
        "last_name": "Иванова",
        "first_name": "Анна",
        "middle_name": "Сергеевна",
        "gender": "female",
        "birthday": dt.date(1990, 5, 17),
        "document_type": "passport_ru",
        "document_number": DOCUMENT,
        "source": "website",
        "notes": "Любит скидки",
    }
    base.update(fields)
    return CustomerInput(
        fields=base,
        phones=[
            PhoneInput("8 (916) 123-45-67"),
            PhoneInput("+7 495 123 45 67", kind=PhoneKind.HOME, is_primary=True),
            PhoneInput("89161234567"),  # the first number again, written differently
            PhoneInput("  "),
        ],
        emails=[EmailInput(" Anna@Example.RU "), EmailInput("anna.work@firma.ru")],
        addresses=[
            AddressInput(city="Москва", line="ул. Тверская, 1"),
            AddressInput(city="Тула", line="пр. Ленина, 5", postal_code="300000", is_default=True),
        ],
        tags=["VIP", "  опт  "],
        consents=[ConsentInput("email", "granted", "форма на сайте")],
    )


# ---------------------------------------------------------------- create


def test_create_normalises_contacts_and_derives_columns(manager_user):
    customer = customer_create(actor=manager_user, data=full_input())
    customer = Customer.objects.get(pk=customer.pk)

    phones = list(customer.phones.values_list("number", "kind", "is_primary"))
    assert phones == [("+74951234567", "home", True), ("+79161234567", "mobile", False)]
    emails = list(customer.emails.values_list("address", "is_primary"))
    assert emails == [("anna@example.ru", True), ("anna.work@firma.ru", False)]
    addresses = list(customer.addresses.values_list("city", "is_default"))
    assert addresses == [("Тула", True), ("Москва", False)]
    assert sorted(customer.tags.values_list("name", flat=True)) == ["VIP", "опт"]
    assert list(customer.consents.values_list("channel", "state", "source")) == [
        ("email", "granted", "форма на сайте")
    ]

    assert customer.search_name == "иванова анна сергеевна"
    assert customer.primary_phone == "+74951234567"
    assert customer.primary_email == "anna@example.ru"
    assert customer.city == "Тула"
    assert (customer.birth_month, customer.birth_day) == (5, 17)
    assert customer.version == 1
    assert customer.status == CustomerStatus.ACTIVE
    assert customer.created_by_id == manager_user.pk


def test_create_picks_exactly_one_primary_when_none_or_several_are_flagged(manager_user):
    data = CustomerInput(
        fields={"first_name": "Олег"},
        phones=[PhoneInput("+79160000001"), PhoneInput("+79160000002")],
        emails=[
            EmailInput("a@x.ru"),
            EmailInput("b@x.ru", is_primary=True),
            EmailInput("c@x.ru", is_primary=True),
        ],
        addresses=[
            AddressInput(city="Омск", line="ул. Мира, 2", is_default=True),
            AddressInput(city="Тверь", line="ул. Мира, 3", is_default=True),
        ],
    )
    customer = customer_create(actor=manager_user, data=data)
    assert list(customer.phones.filter(is_primary=True).values_list("number", flat=True)) == [
        "+79160000001"
    ]
    assert list(customer.emails.filter(is_primary=True).values_list("address", flat=True)) == [
        "b@x.ru"
    ]
    assert list(customer.addresses.filter(is_default=True).values_list("city", flat=True)) == [
        "Омск"
    ]
    assert (customer.primary_phone, customer.primary_email, customer.city) == (
        "+79160000001",
        "b@x.ru",
        "Омск",
    )


def test_create_writes_timeline_and_audit_with_after_values(manager_user):
    before = counts()
    customer = customer_create(actor=manager_user, data=full_input())

    after = counts()
    assert after["customers"] == before["customers"] + 1
    assert after["audit"] == before["audit"] + 1
    assert after["timeline"] == before["timeline"] + 1
    timeline = list(customer.timeline.values_list("kind", "actor_id"))
    assert timeline == [(TimelineKind.CREATED, manager_user.pk)]

    [event] = audit_rows(customer.pk)
    assert event.action == AuditAction.CREATE
    assert event.actor_id == manager_user.pk
    assert event.actor_name == "manager"
    assert event.object_repr == "Иванова Анна Сергеевна"
    assert event.extra == {"version": 1}
    assert event.changes == {
        "kind": [None, "person"],
        "last_name": [None, "Иванова"],
        "first_name": [None, "Анна"],
        "middle_name": [None, "Сергеевна"],
        "gender": [None, "female"],
        "birthday": [None, "1990-05-17"],
        "document_type": [None, "passport_ru"],
        "document_number": ["***", "***"],
        "source": [None, "website"],
        "notes": [None, "Любит скидки"],
        "status": [None, "active"],
        "phones": [None, ["+74951234567 (home, primary)", "+79161234567 (mobile)"]],
        "emails": [None, ["anna@example.ru (primary)", "anna.work@firma.ru"]],
        "addresses": [None, ["300000, Тула, пр. Ленина, 5 (default)", "Москва, ул. Тверская, 1"]],
        "tags": [None, ["VIP", "опт"]],
        "consents": [None, {"email": "granted"}],
        "vip": [None, False],
    }


def test_document_number_is_encrypted_at_rest_and_never_audited(manager_user, admin_user):
    customer = customer_create(actor=manager_user, data=full_input())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT document_number FROM customers_customer WHERE id = %s", [customer.pk]
        )
        [raw] = cursor.fetchone()
    assert raw != DOCUMENT
    assert "987654" not in raw
    assert decrypt(raw) == DOCUMENT
    assert Customer.objects.get(pk=customer.pk).document_number == DOCUMENT
    assert Customer.objects.get(pk=customer.pk).document_masked == "••••••7654"

    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(fields={"document_number": "4511 000111"}),
    )
    [update] = audit_rows(customer.pk, AuditAction.UPDATE)
    assert update.changes == {"document_number": ["***", "***"]}
    customer_delete(actor=admin_user, customer_id=customer.pk)

    text = all_audit_text()
    for clear in ("987654", "4510 987654", "4510987654", "000111", "4511 000111"):
        assert clear not in text


def test_create_without_contacts_leaves_derived_columns_empty(operator_user):
    data = CustomerInput(fields={"last_name": "Сидоров"})
    customer = customer_create(actor=operator_user, data=data)
    customer.refresh_from_db()
    assert (customer.primary_phone, customer.primary_email, customer.city) == ("", "", "")
    assert (customer.birth_month, customer.birth_day) == (None, None)
    assert customer.search_name == "сидоров"


def test_company_search_name_starts_with_legal_name(manager_user):
    data = CustomerInput(
        fields={
            "kind": CustomerKind.COMPANY,
            "company_name": "ООО «Ёлка»",
            "last_name": "Петров",
            "inn": "7707083893",
            "kpp": "773601001",
            "ogrn": "1027700132195",
            "bank_bic": "044525225",
            "bank_account": "30101810400000000225",
        }
    )
    customer = customer_create(actor=manager_user, data=data)
    customer.refresh_from_db()
    assert customer.search_name == "ооо «елка» петров"
    assert customer.display_name == "ООО «Ёлка»"
    assert (customer.inn, customer.ogrn, customer.bank_account) == (
        "7707083893",
        "1027700132195",
        "30101810400000000225",
    )


# ---------------------------------------------------------------- create: validation


INVALID_CARDS = [
    pytest.param(
        {"birthday": "tomorrow"},
        None,
        "birthday",
        "birthday_future",
        id="birthday-in-the-future",
    ),
    pytest.param({"inn": "7707083894"}, None, "inn", "inn_checksum", id="inn-checksum"),
    pytest.param({"inn": "77070838"}, None, "inn", "invalid_inn", id="inn-length"),
    pytest.param({"ogrn": "1027700132196"}, None, "ogrn", "ogrn_checksum", id="ogrn-checksum"),
    pytest.param(
        {"bank_bic": "044525225", "bank_account": "30101810400000000226"},
        None,
        "bank_account",
        "bank_account_checksum",
        id="bank-account-checksum",
    ),
    pytest.param(
        {"kind": CustomerKind.COMPANY, "company_name": "  ", "inn": "7707083893"},
        None,
        "company_name",
        "required",
        id="company-without-legal-name",
    ),
    pytest.param({"first_name": "", "last_name": ""}, None, "first_name", "required", id="no-name"),
    pytest.param(
        {"document_type": ""}, None, "document_type", "required", id="document-without-type"
    ),
    pytest.param({}, ["8 916 123"], "phones", "invalid_phone", id="bad-phone"),
    pytest.param({}, ["+79161234567", "abc"], "phones", "invalid_phone", id="one-bad-phone"),
]


@pytest.mark.parametrize(("fields", "phones", "key", "code"), INVALID_CARDS)
def test_invalid_card_raises_on_its_key_and_writes_nothing(manager_user, fields, phones, key, code):
    factories.make_customer(actor=manager_user)  # something already there
    fields = dict(fields)
    if fields.get("birthday") == "tomorrow":
        fields["birthday"] = timezone.localdate() + dt.timedelta(days=1)
    data = full_input(**fields)
    if phones is not None:
        data.phones = [PhoneInput(p) for p in phones]
    before = counts()
    tags_before = Tag.objects.count()

    with pytest.raises(ValidationError) as excinfo:
        customer_create(actor=manager_user, data=data)

    assert key in excinfo.value.error_dict
    assert code in error_codes(excinfo.value, key)
    assert counts() == before
    assert Tag.objects.count() == tags_before


def test_birthday_today_is_accepted(manager_user):
    customer = customer_create(actor=manager_user, data=full_input(birthday=timezone.localdate()))
    assert customer.birthday == timezone.localdate()


def test_address_without_street_is_refused_and_nothing_written(manager_user):
    data = full_input()
    data.addresses = [AddressInput(city="Москва", line="")]
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        customer_create(actor=manager_user, data=data)
    assert "addresses" in excinfo.value.error_dict
    assert counts() == before


def test_unknown_field_is_refused(manager_user):
    before = counts()
    with pytest.raises(DomainError):
        customer_create(
            actor=manager_user, data=CustomerInput(fields={"first_name": "А", "version": 7})
        )
    assert counts() == before


# ---------------------------------------------------------------- duplicates


def test_duplicate_phone_warns_names_the_owner_and_writes_nothing(manager_user):
    owner = factories.make_customer(
        actor=manager_user, last_name="Смирнов", first_name="Олег", phones=["+79031112233"]
    )
    before = counts()
    data = CustomerInput(fields={"first_name": "Олег"}, phones=[PhoneInput("8 903 111-22-33")])

    with pytest.raises(DuplicateWarning) as excinfo:
        customer_create(actor=manager_user, data=data)

    assert excinfo.value.code == "likely_duplicate"
    assert excinfo.value.details == [
        {"id": owner.pk, "matched": ["+79031112233"], "name": "Смирнов Олег"}
    ]
    assert counts() == before

    created = customer_create(actor=manager_user, data=data, confirm_duplicate=True)
    assert counts()["customers"] == before["customers"] + 1
    assert list(created.phones.values_list("number", flat=True)) == ["+79031112233"]


def test_duplicate_email_warns_and_lists_every_match(manager_user):
    first = factories.make_customer(
        actor=manager_user, last_name="Белова", emails=["anna@mail.ru"], phones=[]
    )
    second = factories.make_customer(
        actor=manager_user, last_name="Белова", phones=["+79035550000"]
    )
    before = counts()
    data = CustomerInput(
        fields={"first_name": "Анна"},
        emails=[EmailInput("ANNA@mail.ru ")],
        phones=[PhoneInput("+7 903 555 00 00")],
    )
    with pytest.raises(DuplicateWarning) as excinfo:
        customer_create(actor=manager_user, data=data)
    assert excinfo.value.details == [
        {"id": first.pk, "matched": ["anna@mail.ru"], "name": "Белова Иван"},
        {"id": second.pk, "matched": ["+79035550000"], "name": "Белова Иван"},
    ]
    assert counts() == before


def test_stoplisted_owner_still_warns_but_archived_owner_does_not(manager_user):
    owner = factories.make_customer(actor=manager_user, phones=["+79037770000"])
    customer_stoplist_add(
        actor=manager_user, customer_id=owner.pk, expected_version=1, reason="fraud"
    )
    data = CustomerInput(fields={"first_name": "Ян"}, phones=[PhoneInput("+79037770000")])
    with pytest.raises(DuplicateWarning):
        customer_create(actor=manager_user, data=data)

    customer_status_set(
        actor=manager_user, customer_id=owner.pk, expected_version=2, status="archived"
    )
    created = customer_create(actor=manager_user, data=data)
    assert created.primary_phone == "+79037770000"


# ---------------------------------------------------------------- update


def test_update_audits_exact_changes_and_bumps_version_by_one(manager_user, operator_user):
    customer = factories.make_customer(
        actor=manager_user, last_name="Орлов", first_name="Иван", phones=["+79161112233"]
    )
    audit_before = AuditEvent.objects.count()

    updated = customer_update(
        actor=operator_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(
            fields={"first_name": "Пётр", "birthday": dt.date(1985, 12, 31), "notes": ""},
            phones=[PhoneInput("+79161112233"), PhoneInput("8 926 000-11-22", is_primary=True)],
        ),
    )

    assert updated.version == 2
    reloaded = Customer.objects.get(pk=customer.pk)
    assert reloaded.version == 2
    assert reloaded.first_name == "Пётр"
    assert reloaded.search_name == "орлов петр"
    assert reloaded.primary_phone == "+79260001122"
    assert (reloaded.birth_month, reloaded.birth_day) == (12, 31)
    assert AuditEvent.objects.count() == audit_before + 1
    [event] = audit_rows(customer.pk, AuditAction.UPDATE)
    assert event.actor_id == operator_user.pk
    assert event.extra == {"version": 2}
    assert event.changes == {
        "first_name": ["Иван", "Пётр"],
        "birthday": [None, "1985-12-31"],
        "phones": [
            ["+79161112233 (mobile, primary)"],
            ["+79260001122 (mobile, primary)", "+79161112233 (mobile)"],
        ],
    }
    edited = list(
        TimelineEvent.objects.filter(customer=customer, kind=TimelineKind.EDITED).values_list(
            "actor_id", "data"
        )
    )
    assert edited == [(operator_user.pk, {"fields": ["birthday", "first_name", "phones"]})]


def test_noop_update_keeps_version_and_writes_no_audit(manager_user):
    customer = factories.make_customer(
        actor=manager_user, last_name="Орлов", phones=["+79161112233"], tags=["VIP"]
    )
    before = counts()
    result = customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(
            fields={"last_name": "Орлов", "notes": None},
            phones=[PhoneInput("8 (916) 111-22-33")],
            tags=["VIP"],
        ),
    )
    assert result.version == 1
    assert Customer.objects.get(pk=customer.pk).version == 1
    assert counts() == before


def test_stale_version_raises_conflict_naming_the_other_change_and_changes_nothing(
    manager_user, operator_user
):
    customer = factories.make_customer(
        actor=manager_user, last_name="Орлов", first_name="Иван", phones=["+79161112233"]
    )
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(fields={"first_name": "Пётр"}),
    )
    state = full_state(customer.pk)

    with pytest.raises(ConflictError) as excinfo:
        customer_update(
            actor=operator_user,
            customer_id=customer.pk,
            expected_version=1,
            data=CustomerInput(
                fields={"first_name": "Павел", "last_name": "Орлова", "notes": "новое"},
                phones=[PhoneInput("+79990001122")],
                tags=["опт"],
            ),
        )

    assert excinfo.value.code == "version_conflict"
    [change] = excinfo.value.details
    assert change["who"] == "manager"
    assert change["version"] == 2
    assert change["changes"] == {"first_name": ["Иван", "Пётр"]}
    assert full_state(customer.pk) == state
    assert not Tag.objects.filter(name="опт").exists()


def test_conflict_lists_every_change_since_the_stale_version(manager_user, operator_user):
    customer = factories.make_customer(actor=manager_user, last_name="Орлов")
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(fields={"notes": "звонить вечером"}),
    )
    customer_update(
        actor=operator_user,
        customer_id=customer.pk,
        expected_version=2,
        data=CustomerInput(fields={"last_name": "Орлова"}),
    )
    with pytest.raises(ConflictError) as excinfo:
        customer_update(
            actor=operator_user,
            customer_id=customer.pk,
            expected_version=2,
            data=CustomerInput(fields={"notes": "x"}),
        )
    assert [(c["who"], c["version"], c["changes"]) for c in excinfo.value.details] == [
        ("operator", 3, {"last_name": ["Орлов", "Орлова"]})
    ]
    with pytest.raises(ConflictError) as excinfo:
        customer_update(
            actor=operator_user,
            customer_id=customer.pk,
            expected_version=1,
            data=CustomerInput(fields={"notes": "x"}),
        )
    assert [(c["who"], c["version"], c["changes"]) for c in excinfo.value.details] == [
        ("manager", 2, {"notes": ["", "звонить вечером"]}),
        ("operator", 3, {"last_name": ["Орлов", "Орлова"]}),
    ]


def test_invalid_update_changes_nothing(manager_user):
    customer = factories.make_customer(actor=manager_user, inn="7707083893")
    state = full_state(customer.pk)
    with pytest.raises(ValidationError) as excinfo:
        customer_update(
            actor=manager_user,
            customer_id=customer.pk,
            expected_version=1,
            data=CustomerInput(
                fields={"inn": "7707083894", "last_name": "Новый"},
                phones=[PhoneInput("+79990001122")],
            ),
        )
    assert error_codes(excinfo.value, "inn") == ["inn_checksum"]
    assert full_state(customer.pk) == state


def test_update_of_a_deleted_customer_is_refused(manager_user):
    customer = factories.make_customer(actor=manager_user)
    customer_delete(actor=manager_user, customer_id=customer.pk)
    with pytest.raises(DomainError) as excinfo:
        customer_update(
            actor=manager_user,
            customer_id=customer.pk,
            expected_version=1,
            data=CustomerInput(fields={"notes": "x"}),
        )
    assert excinfo.value.code == "not_found"


# ---------------------------------------------------------------- stop-list, archive


def test_stoplist_add_and_remove(manager_user):
    customer = factories.make_customer(actor=manager_user)

    customer_stoplist_add(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        reason=StopListReason.REFUSED_COD,
        comment="  не выкупил 3 посылки ",
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.STOPLISTED
    assert customer.is_stoplisted
    assert customer.stoplist_reason == "refused_cod"
    assert customer.stoplist_comment == "не выкупил 3 посылки"
    assert customer.stoplisted_at is not None
    assert customer.version == 2
    [added] = audit_rows(customer.pk, AuditAction.UPDATE)
    assert added.changes == {
        "status": ["active", "stoplisted"],
        "stoplist_reason": ["", "refused_cod"],
        "stoplist_comment": ["", "не выкупил 3 посылки"],
    }

    customer_status_set(
        actor=manager_user, customer_id=customer.pk, expected_version=2, status="active"
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE
    assert (customer.stoplist_reason, customer.stoplist_comment) == ("", "")
    assert customer.stoplisted_at is None
    assert customer.version == 3
    removed = audit_rows(customer.pk, AuditAction.UPDATE)[1]
    assert removed.changes == {
        "status": ["stoplisted", "active"],
        "stoplist_reason": ["refused_cod", ""],
        "stoplist_comment": ["не выкупил 3 посылки", ""],
    }
    timeline = list(
        customer.timeline.order_by("id").values_list("kind", "data").exclude(kind="created")
    )
    assert timeline == [
        (TimelineKind.STOPLISTED, {"reason": "refused_cod"}),
        (TimelineKind.UNSTOPLISTED, {"from": "stoplisted", "to": "active"}),
    ]


def test_stoplist_needs_a_known_reason_and_a_current_version(manager_user):
    customer = factories.make_customer(actor=manager_user)
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        customer_stoplist_add(
            actor=manager_user, customer_id=customer.pk, expected_version=1, reason="grumpy"
        )
    assert "reason" in excinfo.value.error_dict
    with pytest.raises(ConflictError):
        customer_stoplist_add(
            actor=manager_user, customer_id=customer.pk, expected_version=5, reason="fraud"
        )
    with pytest.raises(DomainError):
        customer_status_set(
            actor=manager_user, customer_id=customer.pk, expected_version=1, status="stoplisted"
        )
    assert counts() == before
    assert Customer.objects.get(pk=customer.pk).status == CustomerStatus.ACTIVE


def test_archive_and_restore(manager_user):
    customer = factories.make_customer(actor=manager_user)
    customer_status_set(
        actor=manager_user, customer_id=customer.pk, expected_version=1, status="archived"
    )
    assert Customer.objects.get(pk=customer.pk).status == CustomerStatus.ARCHIVED
    customer_status_set(
        actor=manager_user, customer_id=customer.pk, expected_version=2, status="active"
    )
    customer.refresh_from_db()
    assert (customer.status, customer.version) == (CustomerStatus.ACTIVE, 3)
    assert [e.changes for e in audit_rows(customer.pk, AuditAction.UPDATE)] == [
        {"status": ["active", "archived"]},
        {"status": ["archived", "active"]},
    ]
    kinds = list(customer.timeline.order_by("id").values_list("kind", flat=True))
    assert kinds == [TimelineKind.CREATED, TimelineKind.ARCHIVED, TimelineKind.RESTORED]

    # Restoring an active customer is no change at all.
    before = counts()
    customer_status_set(
        actor=manager_user, customer_id=customer.pk, expected_version=3, status="active"
    )
    assert counts() == before
    assert Customer.objects.get(pk=customer.pk).version == 3


# ---------------------------------------------------------------- bulk actions


def test_bulk_tag_and_untag(manager_user, operator_user):
    customers = [factories.make_customer(actor=manager_user) for _ in range(3)]
    other = factories.make_customer(actor=manager_user)
    ids = [c.pk for c in customers]
    before = counts()

    assert customers_bulk_tag(actor=operator_user, customer_ids=ids, tag_names=["Акция"]) == 3

    tag = Tag.objects.get(name="Акция")
    assert sorted(tag.customers.values_list("pk", flat=True)) == ids
    assert list(Customer.objects.filter(pk__in=ids).values_list("version", flat=True)) == [2] * 3
    assert Customer.objects.get(pk=other.pk).version == 1
    after = counts()
    assert after["audit"] == before["audit"] + 3
    assert after["timeline"] == before["timeline"] + 3
    for customer in customers:
        [event] = audit_rows(customer.pk, AuditAction.UPDATE)
        assert event.actor_id == operator_user.pk
        assert event.changes == {"tags": [[], ["Акция"]]}
        assert event.extra == {"bulk": "tag", "version": 2}
        assert list(
            customer.timeline.filter(kind=TimelineKind.TAGGED).values_list("actor_id", "data")
        ) == [(operator_user.pk, {"tags": ["Акция"]})]

    assert (
        customers_bulk_tag(
            actor=operator_user, customer_ids=ids[:2], tag_names=["Акция"], remove=True
        )
        == 2
    )
    assert sorted(tag.customers.values_list("pk", flat=True)) == ids[2:]
    versions = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "version"))
    assert versions == {ids[0]: 3, ids[1]: 3, ids[2]: 2}
    assert counts()["audit"] == after["audit"] + 2
    [untag] = [e for e in audit_rows(ids[0], AuditAction.UPDATE) if e.extra["bulk"] == "untag"]
    assert untag.changes == {"tags": [["Акция"], []]}
    assert customers[0].timeline.filter(kind=TimelineKind.UNTAGGED).count() == 1


def test_bulk_tag_touches_only_customers_whose_tags_change(manager_user, operator_user):
    tagged = factories.make_customer(actor=manager_user, tags=["VIP", "Опт"])
    plain = factories.make_customer(actor=manager_user, tags=["Опт"])
    before = counts()

    changed = customers_bulk_tag(
        actor=operator_user, customer_ids=[tagged.pk, plain.pk], tag_names=["VIP"]
    )

    assert changed == 1
    assert Customer.objects.get(pk=tagged.pk).version == 1
    assert Customer.objects.get(pk=plain.pk).version == 2
    assert audit_rows(tagged.pk, AuditAction.UPDATE) == []
    [event] = audit_rows(plain.pk, AuditAction.UPDATE)
    assert event.changes == {"tags": [["Опт"], ["VIP", "Опт"]]}
    assert counts()["audit"] == before["audit"] + 1
    assert counts()["timeline"] == before["timeline"] + 1

    assert (
        customers_bulk_tag(
            actor=operator_user, customer_ids=[plain.pk], tag_names=["Скидки"], remove=True
        )
        == 0
    )
    assert Customer.objects.get(pk=plain.pk).version == 2


def test_bulk_tag_ignores_unknown_ids_and_empty_names(manager_user):
    customer = factories.make_customer(actor=manager_user)
    before = counts()
    assert customers_bulk_tag(actor=manager_user, customer_ids=[customer.pk], tag_names=[" "]) == 0
    assert customers_bulk_tag(actor=manager_user, customer_ids=[], tag_names=["x"]) == 0
    assert counts() == before
    assert (
        customers_bulk_tag(actor=manager_user, customer_ids=[customer.pk, 999999], tag_names=["x"])
        == 1
    )


def test_bulk_assign_manager(manager_user, make_user):
    other_manager = make_user(role=Role.MANAGER, username="manager2")
    customers = [factories.make_customer(actor=manager_user) for _ in range(3)]
    customers_bulk_assign_manager(
        actor=manager_user, customer_ids=[customers[0].pk], manager_id=other_manager.pk
    )
    before = counts()
    ids = [c.pk for c in customers]

    changed = customers_bulk_assign_manager(
        actor=manager_user, customer_ids=ids, manager_id=other_manager.pk
    )

    assert changed == 2  # the first one already had this manager
    managers = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "manager_id"))
    assert managers == dict.fromkeys(ids, other_manager.pk)
    versions = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "version"))
    assert versions == {ids[0]: 2, ids[1]: 2, ids[2]: 2}
    assert counts()["audit"] == before["audit"] + 2
    assert counts()["timeline"] == before["timeline"] + 2
    for pk in ids[1:]:
        [event] = audit_rows(pk, AuditAction.UPDATE)
        assert event.changes == {"manager": [None, "manager2"]}
        assert event.extra == {"bulk": "assign_manager", "version": 2}
        assert list(
            TimelineEvent.objects.filter(customer_id=pk, kind=TimelineKind.MANAGER).values_list(
                "data", flat=True
            )
        ) == [{"from": None, "to": other_manager.pk}]

    assert customers_bulk_assign_manager(actor=manager_user, customer_ids=ids, manager_id=None) == 3
    assert set(Customer.objects.filter(pk__in=ids).values_list("manager_id", flat=True)) == {None}
    unassigned = AuditEvent.objects.filter(object_id=str(ids[0]), extra__bulk="assign_manager")
    assert unassigned.order_by("-id").first().changes == {"manager": ["manager2", None]}


# ---------------------------------------------------------------- delete


def test_delete_writes_audit_with_before_values(manager_user, admin_user):
    customer = customer_create(actor=manager_user, data=full_input())
    pk = customer.pk
    before = counts()

    customer_delete(actor=admin_user, customer_id=pk)

    assert not Customer.objects.filter(pk=pk).exists()
    assert CustomerPhone.objects.filter(customer_id=pk).count() == 0
    assert counts()["audit"] == before["audit"] + 1
    [event] = audit_rows(pk, AuditAction.DELETE)
    assert event.actor_id == admin_user.pk
    assert event.object_repr == "Иванова Анна Сергеевна"
    assert event.changes["last_name"] == ["Иванова", None]
    assert event.changes["document_number"] == ["***", "***"]
    assert event.changes["phones"] == [
        ["+74951234567 (home, primary)", "+79161234567 (mobile)"],
        None,
    ]
    assert event.changes["tags"] == [["VIP", "опт"], None]
    assert event.changes["birthday"] == ["1990-05-17", None]
    # The audit row outlives the customer.
    assert len(audit_rows(pk)) == 2


# ---------------------------------------------------------------- custom fields


@pytest.fixture
def custom_fields(db):
    return {
        d.key: d
        for d in [
            CustomFieldDefinition.objects.create(
                key="shoe_size", label="Размер обуви", field_type=CustomFieldType.NUMBER
            ),
            CustomFieldDefinition.objects.create(
                key="first_order", label="Первый заказ", field_type=CustomFieldType.DATE
            ),
            CustomFieldDefinition.objects.create(
                key="wholesale", label="Оптовик", field_type=CustomFieldType.BOOLEAN
            ),
            CustomFieldDefinition.objects.create(
                key="channel",
                label="Канал",
                field_type=CustomFieldType.CHOICE,
                choices=["Авито", "Озон"],
            ),
            CustomFieldDefinition.objects.create(
                key="comment", label="Комментарий", field_type=CustomFieldType.TEXT
            ),
        ]
    }


def create_with_custom(actor, values):
    return customer_create(
        actor=actor, data=CustomerInput(fields={"first_name": "Ия", "custom_fields": values})
    )


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        (
            {
                "shoe_size": "42",
                "first_order": "2024-03-01",
                "wholesale": "да",
                "channel": "Озон",
                "comment": "  оптом  ",
            },
            {
                "shoe_size": 42,
                "first_order": "2024-03-01",
                "wholesale": True,
                "channel": "Озон",
                "comment": "оптом",
            },
        ),
        (
            {"shoe_size": "41,5", "wholesale": "Нет", "first_order": dt.date(2023, 1, 9)},
            {"shoe_size": 41.5, "wholesale": False, "first_order": "2023-01-09"},
        ),
        ({"shoe_size": "1 200", "wholesale": False}, {"shoe_size": 1200, "wholesale": False}),
        ({"comment": "", "channel": None}, {}),
    ],
)
def test_custom_field_values_are_coerced_to_their_type(manager_user, custom_fields, values, stored):
    customer = create_with_custom(manager_user, values)
    assert Customer.objects.get(pk=customer.pk).custom_fields == stored


@pytest.mark.parametrize(
    "values",
    [
        {"shoe_size": "сорок"},
        {"shoe_size": "inf"},
        {"shoe_size": "nan"},
        {"first_order": "31.02.2024"},
        {"wholesale": "может быть"},
        {"channel": "Wildberries"},
        {"unknown_key": "1"},
        {"comment": {"text": "объект"}},
        {"comment": ["список"]},
        {"comment": True},
        {"comment": "я" * (CUSTOM_TEXT_MAX_LENGTH + 1)},
        {"comment": "я" * 100_000},
    ],
)
def test_invalid_custom_field_values_are_refused(manager_user, custom_fields, values):
    before = counts()
    with pytest.raises(ValidationError) as excinfo:
        create_with_custom(manager_user, values)
    assert list(excinfo.value.error_dict) == ["custom_fields"]
    assert counts() == before


def test_text_custom_field_is_limited_like_the_built_in_text_fields(manager_user, custom_fields):
    with pytest.raises(ValidationError) as excinfo:
        create_with_custom(manager_user, {"comment": "я" * 100_000})
    assert excinfo.value.messages == ["“Комментарий”: at most 500 characters (it has 100,000)."]
    with pytest.raises(ValidationError) as excinfo:
        create_with_custom(manager_user, {"comment": {"text": "объект"}})
    assert excinfo.value.messages == ["“Комментарий”: “{'text': 'объект'}” is not a valid Text."]

    longest = create_with_custom(manager_user, {"comment": "я" * 500, "shoe_size": 40})
    number = create_with_custom(manager_user, {"comment": 42})
    assert Customer.objects.get(pk=longest.pk).custom_fields == {
        "comment": "я" * 500,
        "shoe_size": 40,
    }
    assert Customer.objects.get(pk=number.pk).custom_fields == {"comment": "42"}


def test_unknown_custom_field_is_named(manager_user, custom_fields):
    with pytest.raises(ValidationError) as excinfo:
        create_with_custom(manager_user, {"shoe_size": "40", "eye_colour": "blue"})
    assert excinfo.value.messages == ["Unknown custom fields: eye_colour."]


@pytest.mark.parametrize("values", [{}, {"vip_since": ""}, {"vip_since": None}, None])
def test_required_custom_field_is_enforced(manager_user, custom_fields, values):
    CustomFieldDefinition.objects.create(
        key="vip_since", label="VIP с", field_type=CustomFieldType.DATE, required=True
    )
    before = counts()
    fields = {"first_name": "Ия"}
    if values is not None:
        fields["custom_fields"] = values
    with pytest.raises(ValidationError) as excinfo:
        customer_create(actor=manager_user, data=CustomerInput(fields=fields))
    assert excinfo.value.messages == ["“VIP с” is required."]
    assert counts() == before

    customer = create_with_custom(manager_user, {"vip_since": "2020-02-29"})
    assert customer.custom_fields == {"vip_since": "2020-02-29"}


def test_custom_field_change_is_audited(manager_user, custom_fields):
    customer = create_with_custom(manager_user, {"shoe_size": "40"})
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=1,
        data=CustomerInput(fields={"custom_fields": {"shoe_size": "41", "wholesale": "да"}}),
    )
    [event] = audit_rows(customer.pk, AuditAction.UPDATE)
    assert event.changes == {
        "custom_fields": [{"shoe_size": 40}, {"shoe_size": 41, "wholesale": True}]
    }


# ---------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_updates_from_one_version_one_wins_one_conflicts(audit_purged_after):
    manager = factories.make_user(role=Role.MANAGER, username="m1")
    operator = factories.make_user(role=Role.OPERATOR, username="o1")
    customer = factories.make_customer(actor=manager, last_name="Орлов", first_name="Иван")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def edit(actor, first_name):
        try:
            barrier.wait(timeout=10)
            customer_update(
                actor=actor,
                customer_id=customer.pk,
                expected_version=1,
                data=CustomerInput(fields={"first_name": first_name}),
            )
            outcomes[actor.username] = "saved"
        except ConflictError as exc:
            outcomes[actor.username] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=edit, args=(manager, "Пётр")),
        threading.Thread(target=edit, args=(operator, "Павел")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["m1", "o1"]
    winners = [name for name, result in outcomes.items() if result == "saved"]
    losers = [result for result in outcomes.values() if isinstance(result, ConflictError)]
    assert len(winners) == 1
    assert len(losers) == 1
    winner_name = {"m1": "Пётр", "o1": "Павел"}[winners[0]]
    [change] = losers[0].details
    assert change["who"] == winners[0]
    assert change["changes"] == {"first_name": ["Иван", winner_name]}

    reloaded = Customer.objects.get(pk=customer.pk)
    assert (reloaded.first_name, reloaded.version) == (winner_name, 2)
    assert len(audit_rows(customer.pk, AuditAction.UPDATE)) == 1
    assert customer_snapshot(reloaded)["first_name"] == winner_name


def test_a_birthday_without_a_year_survives_an_edit_and_a_cleared_date_goes(manager_user):
    # An import keeps a Mailchimp "08/24" as its month and day only.
    customer = factories.make_customer(first_name="Анна")
    Customer.objects.filter(pk=customer.pk).update(birth_month=8, birth_day=24)
    customer = customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"notes": "любит розы"}),
    )
    customer.refresh_from_db()
    assert (customer.birthday, customer.birth_month, customer.birth_day) == (None, 8, 24)
    # A full date replaces it; clearing that date clears its day and month too.
    customer = customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"birthday": dt.date(1990, 3, 1)}),
    )
    assert (customer.birth_month, customer.birth_day) == (3, 1)
    customer = customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"birthday": None}),
    )
    customer.refresh_from_db()
    assert (customer.birthday, customer.birth_month, customer.birth_day) == (None, None, None)
