"""The customer pages, driven through real requests against the real database."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers import selectors
from clientbase.customers.choices import CustomerStatus, StopListReason
from clientbase.customers.forms import BulkActionForm
from clientbase.customers.models import Customer, CustomFieldDefinition, Tag
from clientbase.customers.services import CustomerInput, customer_update, customers_bulk_tag
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """Assertions read English messages, whatever translations exist."""
    settings.LANGUAGE_CODE = "en"


CUSTOMER = "customers.customer"


class _FormParser(HTMLParser):
    """Collects what a browser would submit for each <form> on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._in_template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._in_template += 1
        if self._in_template:
            return
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get")}
            self._form["fields"] = []
            self.forms.append(self._form)
        if self._form is None or ("name" not in a and tag != "option"):
            return
        fields = self._form["fields"]
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button"):
                fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._select_first = a["name"], None
            self._selected = False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                fields.append((self._select, value))
                self._selected = True
        elif tag == "textarea":
            self._textarea = a["name"]
            fields.append((a["name"], ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._in_template -= 1
        if self._in_template:
            return
        if tag == "select" and self._select is not None and self._form is not None:
            if not self._selected:
                self._form["fields"].append((self._select, self._select_first or ""))
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self._form is not None:
            name, value = self._form["fields"][-1]
            self._form["fields"][-1] = (name, value + data)


def form_data(response: Any, contains: str = "version") -> dict[str, Any]:
    """The submitted data of the page's form that has a field named `contains`."""
    parser = _FormParser()
    parser.feed(response.content.decode())
    for form in parser.forms:
        names = [n for n, _ in form["fields"]]
        if contains in names:
            data: dict[str, Any] = {}
            for name, value in form["fields"]:
                data.setdefault(name, []).append(value)
            return {k: v[0] if len(v) == 1 else v for k, v in data.items()}
    raise AssertionError(f"no form with a field {contains!r}")


def page_names(response: Any) -> list[str]:
    return [c.display_name for c in response.context["page"].rows]


# ---------------------------------------------------------------- list and search


def test_search_finds_phone_typed_another_way(client_for, operator_user):
    wanted = factories.make_customer(last_name="Сидоров", phones=["+79161234567"])
    factories.make_customer(last_name="Другой", phones=["+79169999999"])
    response = client_for(operator_user).get("/customers/", {"q": "8 (916) 123-45-67"})
    assert response.status_code == 200
    assert [c.pk for c in response.context["page"].rows] == [wanted.pk]
    assert "+7 916 123-45-67" in response.content.decode()


def test_search_by_email_exact_and_prefix(client_for, operator_user):
    wanted = factories.make_customer(last_name="Почтов", emails=["ivan.p@example.com"])
    factories.make_customer(last_name="Иной", emails=["ivan@example.org"])
    client = client_for(operator_user)
    response = client.get("/customers/", {"q": "  Ivan.P@Example.COM "})
    assert page_names(response) == [wanted.display_name]
    response = client.get("/customers/", {"q": "ivan.p@exa"})
    assert page_names(response) == [wanted.display_name]


def test_search_by_name_prefix_ignores_case_and_yo(client_for, operator_user):
    first = factories.make_customer(last_name="Ёлкина", first_name="Анна")
    second = factories.make_customer(last_name="Елкин", first_name="Борис")
    factories.make_customer(last_name="Ельцова", first_name="Вера")
    response = client_for(operator_user).get("/customers/", {"q": "ЕЛК"})
    assert page_names(response) == [second.display_name, first.display_name]


def test_search_by_inn(client_for, operator_user):
    company = factories.make_customer(
        kind="company", company_name="ООО Ромашка", inn="7707083893", last_name="", first_name=""
    )
    factories.make_customer(last_name="Частное")
    response = client_for(operator_user).get("/customers/", {"q": "7707083893"})
    assert [c.pk for c in response.context["page"].rows] == [company.pk]


def test_filters_narrow_the_list(client_for, manager_user, operator_user):
    moscow_vip = factories.make_customer(
        last_name="Аверин", city="Москва", tags=["vip"], birthday=dt.date(1990, 5, 3)
    )
    factories.make_customer(last_name="Борисов", city="Москва", birthday=dt.date(1991, 6, 3))
    factories.make_customer(last_name="Волков", city="Казань", tags=["vip"])
    managed = factories.make_customer(last_name="Гусев", manager=manager_user)
    company = factories.make_customer(
        kind="company", company_name="АО Альфа", last_name="", first_name=""
    )
    client = client_for(operator_user)
    vip = Tag.objects.get(name="vip")

    def names(**params: Any) -> list[str]:
        return page_names(client.get("/customers/", params))

    assert names(city="Москва", tag=vip.pk) == [moscow_vip.display_name]
    assert names(birth_month=5) == [moscow_vip.display_name]
    assert names(manager=manager_user.pk) == [managed.display_name]
    assert names(kind="company") == [company.display_name]
    assert names(status="stoplisted") == []
    assert len(names(manager="none")) == 4
    # A filter value that is not valid shows nobody (test_list_filters.py), never everybody.
    assert names(kind="alien") == []


def test_sort_newest_first(client_for, operator_user):
    older = factories.make_customer(last_name="Яковлев")
    newer = factories.make_customer(last_name="Абрамов")
    response = client_for(operator_user).get("/customers/", {"sort": "newest"})
    assert page_names(response) == [newer.display_name, older.display_name]
    response = client_for(operator_user).get("/customers/", {"sort": "name"})
    assert page_names(response) == [newer.display_name, older.display_name]
    response = client_for(operator_user).get("/customers/", {"sort": "oldest"})
    assert page_names(response) == [older.display_name, newer.display_name]


def test_pagination_walks_pages_without_count(client_for, operator_user):
    size = selectors.PAGE_SIZE
    made = [factories.make_customer(last_name=f"Клиент{i:03d}") for i in range(size + 3)]
    expected = sorted(made, key=lambda c: (c.search_name, c.pk))
    client = client_for(operator_user)
    with CaptureQueriesContext(connection) as queries:
        first = client.get("/customers/", {"city": ""})
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    page = first.context["page"]
    assert [c.pk for c in page.rows] == [c.pk for c in expected[:size]]
    assert page.has_next is True
    assert page.has_previous is False

    second = client.get("/customers/", {"city": "", "after": page.next_cursor})
    page2 = second.context["page"]
    assert [c.pk for c in page2.rows] == [c.pk for c in expected[size:]]
    assert (page2.has_next, page2.has_previous) == (False, True)
    # Links keep the filters and carry the cursor.
    assert "city=&amp;before=" in second.content.decode()

    back = client.get("/customers/", {"before": page2.previous_cursor})
    assert [c.pk for c in back.context["page"].rows] == [c.pk for c in expected[:size]]
    assert back.context["page"].has_previous is False


def test_list_query_count_does_not_grow_with_rows(client_for, operator_user):
    client = client_for(operator_user)
    for i in range(2):
        factories.make_customer(last_name=f"Мало{i}", tags=["a", "b"], manager=operator_user)
    with CaptureQueriesContext(connection) as few:
        client.get("/customers/")
    for i in range(12):
        factories.make_customer(last_name=f"Много{i}", tags=["a", "c"], manager=operator_user)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/customers/")
    assert len(response.context["page"].rows) == 14
    assert len(many.captured_queries) == len(few.captured_queries)


def test_htmx_request_gets_the_table_only(client_for, operator_user):
    factories.make_customer(last_name="Частичный")
    response = client_for(operator_user).get(
        "/customers/", {"q": "част"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-table"
    )
    body = response.content.decode()
    assert "Частичный" in body
    assert '<nav class="navbar' not in body
    assert "HX-Request" in response["Vary"]


def test_search_records_audit_without_the_phone(client_for, operator_user):
    factories.make_customer(last_name="Аудитов", phones=["+79161234567"])
    client = client_for(operator_user)
    client.get("/customers/", {"q": "8 916 123 45 67", "status": "active"})
    client.get("/customers/", {"q": "ауди"})
    client.get("/customers/")  # no query: not a search
    events = list(AuditEvent.objects.filter(action=AuditAction.SEARCH).order_by("id"))
    assert len(events) == 2
    phone_search, name_search = events
    assert phone_search.actor_id == operator_user.pk
    assert phone_search.object_type == CUSTOMER
    assert phone_search.extra == {
        "query_kind": "phone",
        "filters": {"status": "active"},
        "sort": "name",
        "results_on_page": 1,
    }
    assert "916" not in str(phone_search.extra)
    assert name_search.extra["query_kind"] == "name"
    assert name_search.extra["query"] == "ауди"


def test_bulk_tag_and_assign_manager(client_for, manager_user):
    a = factories.make_customer(last_name="Первый")
    b = factories.make_customer(last_name="Второй")
    untouched = factories.make_customer(last_name="Третий")
    client = client_for(manager_user)
    response = client.post(
        "/customers/bulk/",
        {"action": "add_tag", "ids": [a.pk, b.pk], "tag": "опт", "next": "/customers/?q=x"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/customers/?q=x"
    assert sorted(Tag.objects.get(name="опт").customers.values_list("pk", flat=True)) == [
        a.pk,
        b.pk,
    ]
    response = client.post(
        "/customers/bulk/",
        {"action": "assign_manager", "ids": [a.pk, b.pk], "manager": manager_user.pk},
    )
    assert response["Location"] == "/customers/"
    assert list(Customer.objects.filter(manager=manager_user).order_by("pk")) == [a, b]
    assert Customer.objects.get(pk=untouched.pk).manager_id is None
    client.post("/customers/bulk/", {"action": "remove_tag", "ids": [a.pk], "tag": "опт"})
    assert list(Tag.objects.get(name="опт").customers.all()) == [b]


def test_bulk_is_refused_to_operator(client_for, operator_user):
    customer = factories.make_customer()
    response = client_for(operator_user).post(
        "/customers/bulk/", {"action": "add_tag", "ids": [customer.pk], "tag": "x"}
    )
    assert response.status_code == 403
    assert not Tag.objects.filter(name="x").exists()


# ---------------------------------------------------------------- card


def test_card_shows_sections_and_records_view(client_for, manager_user):
    customer = factories.make_customer(
        last_name="Карточкин",
        phones=["+79161112233"],
        emails=["k@example.com"],
        city="Тверь",
        tags=["vip"],
        document_type="passport_ru",
        document_number="4510 123456",
    )
    response = client_for(manager_user).get(f"/customers/{customer.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "+7 916 111-22-33" in body
    assert "k@example.com" in body
    assert "Тверь" in body
    assert "4510 123456" in body  # a manager may read documents
    views = AuditEvent.objects.filter(action=AuditAction.VIEW, object_type=CUSTOMER)
    assert [(e.object_id, e.actor_id) for e in views] == [(str(customer.pk), manager_user.pk)]


def test_operator_sees_masked_document(client_for, operator_user):
    customer = factories.make_customer(document_type="passport_ru", document_number="4510 123456")
    body = client_for(operator_user).get(f"/customers/{customer.pk}/").content.decode()
    assert "4510 123456" not in body
    assert "••••••3456" in body


def test_stoplisted_customer_has_badge_in_list_and_card(client_for, manager_user):
    customer = factories.make_customer(last_name="Стопов")
    client = client_for(manager_user)
    response = client.post(
        f"/customers/{customer.pk}/stoplist/",
        {"version": customer.version, "reason": StopListReason.FRAUD, "comment": "чарджбэк"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.STOPLISTED
    assert (customer.stoplist_reason, customer.stoplist_comment) == ("fraud", "чарджбэк")
    card = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "badge-stoplist" in card
    assert "чарджбэк" in card
    listing = client.get("/customers/").content.decode()
    assert listing.count("badge-stoplist") == 1

    response = client.post(
        f"/customers/{customer.pk}/stoplist/remove/", {"version": customer.version}
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE
    assert customer.stoplist_reason == ""


def test_stoplist_with_stale_version_changes_nothing(client_for, manager_user):
    customer = factories.make_customer(last_name="Старый")
    stale = customer.version
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=stale,
        data=CustomerInput(fields={"notes": "новое"}),
    )
    response = client_for(manager_user).post(
        f"/customers/{customer.pk}/stoplist/", {"version": stale, "reason": "fraud"}, follow=True
    )
    assert "Someone changed this customer" in response.content.decode()
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE


def test_stoplist_refused_to_operator(client_for, operator_user):
    customer = factories.make_customer()
    response = client_for(operator_user).post(
        f"/customers/{customer.pk}/stoplist/", {"version": customer.version, "reason": "fraud"}
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE


def test_archive_and_restore(client_for, operator_user):
    customer = factories.make_customer()
    client = client_for(operator_user)
    client.post(f"/customers/{customer.pk}/archive/", {"version": customer.version})
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ARCHIVED
    client.post(f"/customers/{customer.pk}/restore/", {"version": customer.version})
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE


def test_delete_needs_confirmation_and_permission(client_for, admin_user, manager_user):
    customer = factories.make_customer()
    assert client_for(manager_user).post(f"/customers/{customer.pk}/delete/").status_code == 403
    client = client_for(admin_user)
    assert client.get(f"/customers/{customer.pk}/delete/").status_code == 200
    assert Customer.objects.filter(pk=customer.pk).exists()
    response = client.post(f"/customers/{customer.pk}/delete/", {"version": customer.version})
    assert response["Location"] == "/customers/"
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.DELETE, object_type=CUSTOMER, object_id=str(customer.pk)
    ).exists()


def test_inline_tag_add_and_remove_with_htmx(client_for, manager_user):
    customer = factories.make_customer()
    client = client_for(manager_user)  # one who may stop-list: that form carries the version
    response = client.post(
        f"/customers/{customer.pk}/tags/add/", {"tag": " постоянный "}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "постоянный" in body
    customer.refresh_from_db()
    # The actions are re-sent with the new version so the next action is not a false conflict.
    assert 'hx-swap-oob="true"' in body
    assert f'name="version" value="{customer.version}"' in body
    assert [t.name for t in customer.tags.all()] == ["постоянный"]
    client.post(f"/customers/{customer.pk}/tags/remove/", {"tag": "постоянный"})
    assert list(customer.tags.all()) == []


# ---------------------------------------------------------------- add and edit


def _new_card(**overrides: Any) -> dict[str, Any]:
    data = {
        "kind": "person",
        "last_name": "",
        "first_name": "",
        "gender": "",
        "birthday": "",
        "phones-TOTAL_FORMS": "1",
        "phones-INITIAL_FORMS": "0",
        "phones-0-number": "",
        "phones-0-kind": "mobile",
        "emails-TOTAL_FORMS": "1",
        "emails-INITIAL_FORMS": "0",
        "emails-0-address": "",
        "addresses-TOTAL_FORMS": "1",
        "addresses-INITIAL_FORMS": "0",
        "consent-email_state": "unknown",
        "consent-sms_state": "unknown",
        "tags": "",
        "interests": "",
    }
    data.update(overrides)
    return data


def test_create_customer(client_for, operator_user):
    CustomFieldDefinition.objects.create(key="shoe", label="Shoe size", field_type="number")
    response = client_for(operator_user).post(
        "/customers/new/",
        _new_card(
            last_name="Новиков",
            first_name="Пётр",
            **{
                "phones-0-number": "8 (903) 555-12-34",
                "emails-0-address": "Petr@Example.com",
                "addresses-0-city": "Самара",
                "addresses-0-line": "ул. Мира, 5",
                "consent-email_state": "granted",
                "consent-email_source": "сайт",
                "tags": "vip, опт",
                "interests": "чай, кофе",
                "cf-shoe": "42",
            },
        ),
    )
    customer = Customer.objects.get(last_name="Новиков")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/"
    assert customer.primary_phone == "+79035551234"
    assert customer.primary_email == "petr@example.com"
    assert customer.city == "Самара"
    assert sorted(t.name for t in customer.tags.all()) == ["vip", "опт"]
    assert customer.interests == ["чай", "кофе"]
    assert customer.custom_fields == {"shoe": 42}
    assert customer.created_by == operator_user
    consent = customer.consents.get(channel="email")
    assert (consent.state, consent.source) == ("granted", "сайт")
    assert not customer.consents.filter(channel="sms").exists()


def test_create_with_errors_shows_them_and_writes_nothing(client_for, operator_user):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client_for(operator_user).post(
        "/customers/new/",
        _new_card(
            last_name="Ошибкин",
            birthday=tomorrow.isoformat(),
            **{"phones-0-number": "12345", "emails-0-address": "not-an-email"},
        ),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "“12345” is not a valid phone number" in body
    assert "“not-an-email” is not a valid e-mail address." in body
    # The service's own rule (birthday) is shown beside its field in the same round.
    assert response.context["card"].main.errors["birthday"] == ["Birthday cannot be in the future."]
    assert Customer.objects.count() == 0
    assert AuditEvent.objects.filter(object_type=CUSTOMER).count() == 0


def test_duplicate_warning_then_confirm(client_for, operator_user):
    existing = factories.make_customer(last_name="Дублев", phones=["+79161234567"])
    client = client_for(operator_user)
    data = _new_card(last_name="Дублёв", **{"phones-0-number": "89161234567"})
    response = client.post("/customers/new/", data)
    assert response.status_code == 200
    assert response.context["duplicates"] == [
        {"id": existing.pk, "matched": ["+79161234567"], "name": existing.display_name}
    ]
    assert f'href="/customers/{existing.pk}/"' in response.content.decode()
    assert Customer.objects.count() == 1
    response = client.post("/customers/new/", {**data, "confirm_duplicate": "on"})
    assert response.status_code == 302
    assert Customer.objects.count() == 2


def test_edit_saves_changes(client_for, operator_user):
    customer = factories.make_customer(last_name="Правкин", phones=["+79160000001"])
    client = client_for(operator_user)
    data = form_data(client.get(f"/customers/{customer.pk}/edit/"))
    assert data["phones-0-number"] == "+7 916 000-00-01"
    data.update({"first_name": "Семён", "phones-1-number": "+7 495 123-45-67"})
    response = client.post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.first_name == "Семён"
    assert sorted(customer.phones.values_list("number", flat=True)) == [
        "+74951234567",
        "+79160000001",
    ]
    assert customer.version == 2


def test_edit_with_stale_version_shows_conflict_and_saves_nothing(
    client_for, operator_user, manager_user
):
    customer = factories.make_customer(last_name="Конфликтов", first_name="Иван")
    client = client_for(operator_user)
    data = form_data(client.get(f"/customers/{customer.pk}/edit/"))
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"first_name": "Пётр"}),
    )
    data["first_name"] = "Павел"
    response = client.post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 200
    body = response.content.decode()
    assert response.context["conflict"][0]["who"] == "manager"
    assert response.context["conflict"][0]["changes"] == {"first_name": ["Иван", "Пётр"]}
    assert "<del>Иван</del> → <ins>Пётр</ins>" in body
    customer.refresh_from_db()
    assert (customer.first_name, customer.version) == ("Пётр", 2)


def test_operator_cannot_change_document_by_posting_it(client_for, operator_user):
    customer = factories.make_customer(document_type="passport_ru", document_number="4510 123456")
    client = client_for(operator_user)
    page = client.get(f"/customers/{customer.pk}/edit/")
    assert "4510 123456" not in page.content.decode()
    data = form_data(page)
    assert "document_number" not in data
    data.update({"document_number": "9999 000000", "document_type": "", "notes": "звонил"})
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.notes == "звонил"
    assert (customer.document_type, customer.document_number) == ("passport_ru", "4510 123456")


def test_manager_can_change_document(client_for, manager_user):
    customer = factories.make_customer(document_type="passport_ru", document_number="4510 123456")
    client = client_for(manager_user)
    data = form_data(client.get(f"/customers/{customer.pk}/edit/"))
    assert data["document_number"] == "4510 123456"
    data["document_number"] = "4511 654321"
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.document_number == "4511 654321"


def test_analyst_cannot_open_edit(client_for, make_user):
    analyst = make_user(role=Role.ANALYST)
    customer = factories.make_customer()
    assert client_for(analyst).get(f"/customers/{customer.pk}/edit/").status_code == 403
    assert client_for(analyst).get(f"/customers/{customer.pk}/").status_code == 200


# ---------------------------------------------------------------- tags and custom fields


def test_tag_page_counts_and_manage(client_for, manager_user, operator_user):
    factories.make_customer(tags=["vip"])
    factories.make_customer(tags=["vip", "опт"])
    response = client_for(operator_user).get("/customers/tags/")
    assert [(t.name, t.customer_count) for t in response.context["tags"]] == [
        ("vip", 2),
        ("опт", 1),
    ]
    assert client_for(operator_user).post("/customers/tags/new/", {"name": "x"}).status_code == 403
    client = client_for(manager_user)
    assert (
        client.post("/customers/tags/new/", {"name": "новый", "color": "info"}).status_code == 302
    )
    response = client.post("/customers/tags/new/", {"name": "VIP", "color": "info"})
    assert response.context["form"].errors["name"] == ["A tag with this name already exists."]
    vip = Tag.objects.get(name="vip")
    client.post(f"/customers/tags/{vip.pk}/", {"name": "важный", "color": "danger"})
    vip.refresh_from_db()
    assert (vip.name, vip.color) == ("важный", "danger")
    client.post(f"/customers/tags/{vip.pk}/delete/")
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["новый", "опт"]


def test_custom_field_definitions_admin_only(client_for, admin_user, manager_user):
    assert client_for(manager_user).get("/customers/fields/").status_code == 403
    client = client_for(admin_user)
    response = client.post(
        "/customers/fields/new/",
        {
            "key": "size",
            "label": "Размер",
            "field_type": "choice",
            "choices": "S\nM\nL\n",
            "position": 1,
        },
    )
    assert response.status_code == 302
    definition = CustomFieldDefinition.objects.get(key="size")
    assert definition.choices == ["S", "M", "L"]
    client.post(
        f"/customers/fields/{definition.pk}/",
        {
            "key": "other",
            "label": "Размер одежды",
            "field_type": "choice",
            "choices": "S\nM",
            "position": 2,
        },
    )
    definition.refresh_from_db()
    assert (definition.key, definition.label, definition.choices) == (
        "size",
        "Размер одежды",
        ["S", "M"],
    )


@pytest.mark.parametrize("threshold", [0, 1000])
def test_tag_filter_same_rows_for_common_and_rare_tags(
    client_for, operator_user, monkeypatch, threshold
):
    # Both query shapes (EXISTS for common tags, IN for rare ones) must return the same page.
    monkeypatch.setattr(selectors, "TAG_COMMON_THRESHOLD", threshold)
    tagged = [factories.make_customer(last_name=f"Тегов{i}", tags=["t"]) for i in range(3)]
    factories.make_customer(last_name="Безтегов")
    tag = Tag.objects.get(name="t")
    response = client_for(operator_user).get("/customers/", {"tag": tag.pk, "sort": "newest"})
    assert [c.pk for c in response.context["page"].rows] == [c.pk for c in reversed(tagged)]


def test_the_card_shows_a_birthday_without_a_year(client_for, manager_user, settings):
    settings.LANGUAGE_CODE = "ru"
    customer = factories.make_customer()
    Customer.objects.filter(pk=customer.pk).update(birth_month=8, birth_day=24)
    body = client_for(manager_user).get(f"/customers/{customer.pk}/").content.decode()
    assert "24 августа" in body


def test_tag_and_bulk_messages_group_counts_in_russian(settings, client_for, manager_user):
    Customer.objects.bulk_create(
        Customer(last_name=f"Петров{n}", first_name="Иван") for n in range(1001)
    )
    ids = list(Customer.objects.values_list("pk", flat=True))
    customers_bulk_tag(actor=manager_user, customer_ids=ids[:1000], tag_names=["опт"])
    tag = Tag.objects.get(name="опт")
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        response = client_for(manager_user).post(f"/customers/tags/{tag.pk}/delete/", follow=True)
        assert [str(m) for m in response.context["messages"]] == [
            "Тег «опт» удалён; он был у клиентов: 1\u00a0000."
        ]
        # A selection is at most 1,000 customers; the form says so with the number grouped.
        data = QueryDict(mutable=True)
        data.setlist("ids", [str(pk) for pk in ids])
        data.update({"action": "add_tag", "tag": "опт"})
        form = BulkActionForm(data=data)
        assert not form.is_valid()
        assert form.errors["ids"] == ["За один раз можно выбрать не больше 1\u00a0000 клиентов."]


def test_custom_field_form_reports_every_problem_in_one_round(client_for, admin_user):
    taken = CustomFieldDefinition.objects.create(key="size", label="Размер")
    client = client_for(admin_user)
    # No label, a choice type without choices and a key in use: all three at once.
    response = client.post(
        "/customers/fields/new/",
        {"key": "size", "label": "", "field_type": "choice", "choices": " \n", "position": 1},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "key": ["A custom field with this key already exists."],
        "label": ["This field is required."],
        "choices": ["List at least one choice."],
    }
    assert list(CustomFieldDefinition.objects.values_list("pk", flat=True)) == [taken.pk]
    # Editing keeps its own key; the rule on choices comes with the other errors too.
    response = client.post(
        f"/customers/fields/{taken.pk}/",
        {"label": "Размер", "field_type": "choice", "choices": "", "position": "-1"},
    )
    assert response.context["form"].errors == {
        "position": ["Ensure this value is greater than or equal to 0."],
        "choices": ["List at least one choice."],
    }
    taken.refresh_from_db()
    assert (taken.field_type, taken.position) == ("text", 0)


def test_the_largest_allowed_selection_goes_through_and_one_more_is_told(client_for, manager_user):
    Customer.objects.bulk_create(
        Customer(last_name=f"Массовый{n}", first_name="Иван") for n in range(1001)
    )
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    client = client_for(manager_user)
    post = {"action": "add_tag", "tag": "опт", "next": "/customers/"}
    # 1,000 ids and three more fields: Django's default field limit answered a bare 400.
    response = client.post("/customers/bulk/", {**post, "ids": ids[:1000]})
    assert response.status_code == 302
    assert Tag.objects.get(name="опт").customers.count() == 1000
    response = client.post("/customers/bulk/", {**post, "ids": ids, "tag": "розница"}, follow=True)
    assert "Select at most 1,000 customers at a time." in response.content.decode()
    assert not Tag.objects.filter(name="розница", customers__isnull=False).exists()
