"""Search by the end of a phone or the start of an e-mail, and sorting by column headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.core.pagination import keyset_page
from clientbase.customers import selectors
from clientbase.customers.models import Customer, CustomerPhone
from clientbase.imports.services import import_file
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


def found(client: Any, **params: Any) -> list[str]:
    response = client.get("/customers/", params)
    assert response.status_code == 200
    return [c.last_name for c in response.context["page"].rows]


# ---------------------------------------------------------------- the end of a phone


def test_the_last_digits_of_any_phone_find_the_customer(client_for, operator_user):
    factories.make_customer(last_name="Аверин", phones=["+79161234567"])
    factories.make_customer(last_name="Борисов", phones=["+79035550000", "+79037774567"])
    factories.make_customer(last_name="Волков", phones=["+79165554321"])
    client = client_for(operator_user)
    assert found(client, q="4567") == ["Аверин", "Борисов"]  # a second phone counts too
    assert found(client, q="45-67") == ["Аверин", "Борисов"]
    assert found(client, q="34567") == ["Аверин"]
    assert found(client, q="123-45-67") == ["Аверин"]
    assert found(client, q="916 123 45 67") == ["Аверин"]  # nine digits: still an ending
    assert found(client, q="8 916 123-45-67") == ["Аверин"]  # a whole number: exact
    assert found(client, q="567") == []  # three digits are too few to mean anyone
    assert found(client, q="+7916") == []  # a start is not an ending
    event = AuditEvent.objects.filter(action=AuditAction.SEARCH).order_by("id").first()
    # The digits are personal data: the audit keeps the kind of query only.
    assert event.extra["query_kind"] == "phone_end" and "query" not in event.extra


def test_the_database_keeps_the_last_digits_for_every_writer(tmp_path: Path, settings):
    settings.IMPORT_BACKUP = False
    factories.make_customer(last_name="Ручной", phones=["+79161234567"])
    path = tmp_path / "clients.csv"
    path.write_bytes("ФИО;Телефон\nИмпортов Иван;8 903 111-22-33\n".encode("cp1251"))
    assert import_file(actor=None, kind="customers", path=path).rows_created == 1
    assert dict(CustomerPhone.objects.values_list("number", "last_digits")) == {
        "+79161234567": "4567",
        "+79031112233": "2233",
    }
    query = selectors.interpret_query("22-33")
    assert query == selectors.SearchQuery(selectors.QueryKind.PHONE_END, "2233")
    rows = selectors.customer_list(selectors.CustomerListParams(q="22-33"))
    assert [c.last_name for c in rows] == ["Импортов"]


# ---------------------------------------------------------------- the start of an e-mail


def test_the_start_of_an_email_finds_the_customer(client_for, operator_user):
    factories.make_customer(last_name="Петров", emails=["ivanov.p@mail.ru"])
    factories.make_customer(last_name="Ivanova", first_name="Anna", emails=["anna@example.com"])
    factories.make_customer(last_name="Сидоров", emails=["sidorov@ivanov.ru"])
    client = client_for(operator_user)
    assert found(client, q="ivanov") == ["Ivanova", "Петров"]  # a name or an e-mail start
    assert found(client, q="IVANOV.P") == ["Петров"]
    assert found(client, q="ivanov.p@mail") == ["Петров"]
    assert found(client, q="ann") == ["Ivanova"]
    assert found(client, q="iv") == ["Ivanova"]  # two letters: names only
    assert found(client, q="mail") == []  # the domain is not the start
    event = AuditEvent.objects.filter(action=AuditAction.SEARCH).order_by("id").first()
    assert event.extra["query_kind"] == "name_or_email" and "query" not in event.extra


def test_a_too_common_email_start_searches_names_and_says_so(
    client_for, operator_user, monkeypatch
):
    monkeypatch.setattr(selectors, "EMAIL_START_MAX", 2)
    for i in range(3):
        factories.make_customer(last_name=f"Почтов{i}", emails=[f"anna{i}@example.com"])
    factories.make_customer(last_name="Annenkov", first_name="Ivan")
    client = client_for(operator_user)
    response = client.get("/customers/", {"q": "anna"})
    assert [c.last_name for c in response.context["page"].rows] == []
    response = client.get("/customers/", {"q": "anne"})
    assert [c.last_name for c in response.context["page"].rows] == ["Annenkov"]
    assert "Many e-mail addresses start with" not in response.content.decode()
    response = client.get("/customers/", {"q": "ann"})
    assert [c.last_name for c in response.context["page"].rows] == ["Annenkov"]
    assert "Many e-mail addresses start with “ann”" in response.content.decode()
    response = client.get("/customers/", {"q": "anna1"})
    assert [c.last_name for c in response.context["page"].rows] == ["Почтов1"]


# ---------------------------------------------------------------- sorting


def make_people() -> None:
    for last_name, city in (
        ("Борисов", "Москва"),
        ("Аверин", "Казань"),
        ("Волков", "Москва"),
        ("Гусев", ""),
        ("Дьяков", "Казань"),
    ):
        factories.make_customer(last_name=last_name, city=city or None)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Аверин", "Борисов", "Волков", "Гусев", "Дьяков"]),
        ("-name", ["Дьяков", "Гусев", "Волков", "Борисов", "Аверин"]),
        ("city", ["Гусев", "Аверин", "Дьяков", "Борисов", "Волков"]),
        ("-city", ["Волков", "Борисов", "Дьяков", "Аверин", "Гусев"]),
        ("newest", ["Дьяков", "Гусев", "Волков", "Аверин", "Борисов"]),
        ("oldest", ["Борисов", "Аверин", "Волков", "Гусев", "Дьяков"]),
    ],
)
def test_every_sort_orders_the_list_and_the_api(client_for, operator_user, sort, expected):
    make_people()
    assert found(client_for(operator_user), sort=sort) == expected


def test_column_headers_sort_and_toggle(client_for, operator_user):
    make_people()
    client = client_for(operator_user)
    body = client.get("/customers/", {"city": "Москва"}).content.decode()
    # Name is the default sort: its header says so and asks for the reverse; the filter stays.
    assert '<th scope="col" aria-sort="ascending">' in body
    assert 'href="?city=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&amp;sort=-name"' in body
    assert 'href="?city=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&amp;sort=city"' in body
    assert 'href="?city=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&amp;sort=newest"' in body
    body = client.get("/customers/", {"sort": "newest", "after": "x"}).content.decode()
    assert '<th scope="col" aria-sort="descending">' in body
    assert 'href="?sort=oldest"' in body  # the cursor is dropped: a new order starts at the top
    # The table alone (htmx) also updates the sort field of the filter form.
    body = client.get(
        "/customers/",
        {"sort": "-city"},
        headers={"HX-Request": "true", "HX-Target": "customer-table"},
    ).content.decode()
    assert '<div id="sort-field" hx-swap-oob="innerHTML">' in body
    assert '<option value="-city" selected>' in body


def test_keyset_pages_walk_the_city_sort_without_gaps(client_for, operator_user):
    size = selectors.PAGE_SIZE
    cities = ["Омск", "Казань", "", "Тула"]
    for i in range(size + 7):
        factories.make_customer(last_name=f"Житель{i % 9}", city=cities[i % 4] or None)
    expected = sorted(Customer.objects.all(), key=lambda c: (c.city, c.search_name, c.pk))
    client = client_for(operator_user)
    for sort, rows in (("city", expected), ("-city", expected[::-1])):
        first = client.get("/customers/", {"sort": sort}).context["page"]
        second = client.get("/customers/", {"sort": sort, "after": first.next_cursor})
        second_page = second.context["page"]
        assert [c.pk for c in first.rows + second_page.rows] == [c.pk for c in rows]
        back = client.get("/customers/", {"sort": sort, "before": second_page.previous_cursor})
        assert [c.pk for c in back.context["page"].rows] == [c.pk for c in rows[:size]]


def test_keyset_page_takes_several_columns_in_one_direction():
    make_people()
    queryset = Customer.objects.all()
    page = keyset_page(queryset, order=("city", "search_name", "id"), size=2)
    assert [c.last_name for c in page.rows] == ["Гусев", "Аверин"]
    page = keyset_page(
        queryset, order=("city", "search_name", "id"), size=2, after=page.next_cursor
    )
    assert [c.last_name for c in page.rows] == ["Дьяков", "Борисов"]
    with pytest.raises(ValueError, match="same direction"):
        keyset_page(queryset, order=("city", "-id"), size=2)


@pytest.mark.parametrize(
    ("language", "placeholder", "title"),
    [
        (
            "ru",
            "Имя, телефон или 4 последние цифры, начало e-mail, ИНН",
            "Начало имени, телефон в любом формате или его последние 4–9 цифр, "
            "e-mail или его начало, либо ИНН.",
        ),
        (
            "en",
            "Name, phone or its last 4 digits, start of an e-mail, INN",
            "The start of a name, a phone in any format or its last 4 to 9 digits, "
            "an e-mail or its start, or an INN.",
        ),
    ],
)
def test_the_search_box_says_what_it_finds(
    settings, client_for, operator_user, language, placeholder, title
):
    settings.LANGUAGE_CODE = language
    with translation.override(language):
        response = client_for(operator_user).get("/customers/")
    attrs = response.context["filterset"].fields["q"].widget.attrs
    assert (str(attrs["placeholder"]), str(attrs["title"])) == (placeholder, title)
    html = response.content.decode()
    assert f'placeholder="{placeholder}"' in html and f'title="{title}"' in html
