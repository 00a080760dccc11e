"""Cities in one stored form: typed any way, found any way, offered as the user types."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clientbase.customers.models import Address, Customer
from clientbase.customers.normalize import normalize_city
from clientbase.customers.services import AddressInput, CustomerInput, customer_update
from clientbase.imports.services import import_file
from clientbase.segments.selectors import segment_count
from tests import factories


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("москва", "Москва"),
        ("  МОСКВА  ", "Москва"),
        ("мОсКвА", "Москва"),
        ("г. Москва", "Москва"),
        ("г.москва", "Москва"),
        ("Г Москва", "Москва"),
        ("город москва", "Москва"),
        ("гор. Москва", "Москва"),
        ("Москва г.", "Москва"),
        ("москва,", "Москва"),
        ("санкт-петербург", "Санкт-Петербург"),
        ("Санкт - Петербург", "Санкт-Петербург"),
        ("ростов-на-дону", "Ростов-на-Дону"),
        ("РОСТОВ–НА–ДОНУ", "Ростов-на-Дону"),
        ("комсомольск-на-амуре", "Комсомольск-на-Амуре"),
        ("нижний   новгород", "Нижний Новгород"),
        ("улан-удэ", "Улан-Удэ"),
        ("рио-де-жанейро", "Рио-де-Жанейро"),
        ("frankfurt am main", "Frankfurt am Main"),
        ("с. ивановка", "с. Ивановка"),
        ("ПГТ правдинский", "пгт Правдинский"),
        ("Царское село", "Царское Село"),
        ("гороховец", "Гороховец"),
        ("орёл", "Орёл"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_city(typed: str, stored: str) -> None:
    assert normalize_city(typed) == stored
    assert normalize_city(stored) == stored  # idempotent: stored and queried forms agree


pytestmark = pytest.mark.django_db


def test_services_store_the_canonical_city_on_the_address_and_the_customer(admin_user):
    customer = factories.make_customer(last_name="Городов", city="г. москва")
    customer.refresh_from_db()
    assert customer.city == "Москва"
    assert list(Address.objects.filter(customer=customer).values_list("city", flat=True)) == [
        "Москва"
    ]
    customer_update(
        actor=admin_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(
            fields={},
            addresses=[
                AddressInput(city="ростов-на-дону", line="ул. Садовая, 1", is_default=True),
                AddressInput(city="  САНКТ-ПЕТЕРБУРГ ", line="Невский, 2"),
            ],
        ),
    )
    customer.refresh_from_db()
    assert customer.city == "Ростов-на-Дону"
    assert sorted(Address.objects.filter(customer=customer).values_list("city", flat=True)) == [
        "Ростов-на-Дону",
        "Санкт-Петербург",
    ]


def test_the_api_stores_the_canonical_city(client_for, admin_user):
    from clientbase.accounts.services import apitoken_create

    _token, key = apitoken_create(actor=None, name="shop", scopes=["all"])
    response = client_for(admin_user).post(
        "/api/v1/customers/",
        {
            "last_name": "Апишный",
            "addresses": [{"city": "санкт-петербург", "line": "Невский, 1"}],
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["addresses"][0]["city"] == "Санкт-Петербург"
    assert Customer.objects.get(last_name="Апишный").city == "Санкт-Петербург"


def test_the_file_import_stores_the_canonical_city(tmp_path: Path, settings):
    settings.IMPORT_BACKUP = False
    path = tmp_path / "clients.csv"
    path.write_bytes(
        (
            "ФИО;Моб. телефон;Город;Адрес\n"
            "Иванов Иван;8 916 123-45-67;москва;ул. Ленина, 1\n"
            "Петрова Анна;8 903 111-22-33;г. Санкт-петербург;\n"
        ).encode("cp1251")
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert job.rows_created == 2, job.status
    cities = dict(Customer.objects.values_list("last_name", "city"))
    assert cities == {"Иванов": "Москва", "Петрова": "Санкт-Петербург"}
    assert list(Address.objects.values_list("city", flat=True)) == ["Москва"]


def test_city_filter_and_segments_match_any_case(client_for, operator_user):
    moscow = factories.make_customer(last_name="Аверин", city="Москва")
    typed = factories.make_customer(last_name="Борисов", city="москва")
    factories.make_customer(last_name="Волков", city="Казань")
    client = client_for(operator_user)
    for value in ("москва", "МОСКВА", "г. Москва", "Москва"):
        rows = client.get("/customers/", {"city": value}).context["page"].rows
        assert [c.pk for c in rows] == [moscow.pk, typed.pk]
        assert segment_count(f'city = "{value}"') == 2
    assert segment_count('city in ("москва", "казань")') == 3
    assert segment_count('city != "москва"') == 1


def test_data_migration_canonicalises_existing_rows():
    a = factories.make_customer(last_name="Старый", city="Москва")
    b = factories.make_customer(last_name="Новый", city="Казань")
    # As rows were stored before: typed as is.
    Customer.objects.filter(pk=a.pk).update(city="москва")
    Customer.objects.filter(pk=b.pk).update(city="г. казань")
    Address.objects.filter(customer=a).update(city="  МОСКВА ")
    migration = importlib.import_module("clientbase.customers.migrations.0006_city_canonical_form")
    # The function reads only the editor's connection; a real editor cannot open inside the
    # test's transaction on SQLite.
    migration.canonicalise_cities(apps, SimpleNamespace(connection=connection))
    assert dict(Customer.objects.values_list("last_name", "city")) == {
        "Старый": "Москва",
        "Новый": "Казань",
    }
    assert Address.objects.get(customer=a).city == "Москва"


def test_city_suggestions_offer_known_cities_as_typed(client_for, operator_user):
    for city in ("Москва", "москва", "Мурманск", "Магадан", "Казань", "Санкт-Петербург"):
        factories.make_customer(last_name="Житель", city=city)
    factories.make_customer(last_name="Бездомный", city=None)
    client = client_for(operator_user)

    def offered(typed: str) -> list[str]:
        response = client.get("/customers/cities/", {"city": typed})
        assert response.status_code == 200
        body = response.content.decode()
        return [part.split('"')[0] for part in body.split('<option value="')[1:]]

    assert offered("м") == ["Магадан", "Москва", "Мурманск"]
    assert offered("МОС") == ["Москва"]
    assert offered("г. санкт") == ["Санкт-Петербург"]
    assert offered("") == ["Казань", "Магадан", "Москва", "Мурманск", "Санкт-Петербург"]
    assert offered("Ы") == []
    assert offered("М" * 101) == []
    with CaptureQueriesContext(connection) as queries:
        offered("м")
    # The session and the user, then one statement for the cities however many there are.
    assert len([q for q in queries.captured_queries if "WITH RECURSIVE" in q["sql"]]) == 1


def test_city_suggestions_are_limited():
    from clientbase.customers import selectors

    for i in range(5):
        factories.make_customer(last_name="Житель", city=f"Город{i}")
    assert selectors.known_cities("город", limit=3) == ["Город0", "Город1", "Город2"]
    assert len(selectors.known_cities("город")) == 5


def test_city_suggestions_need_a_login(client):
    response = client.get("/customers/cities/", {"city": "м"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_list_offers_the_cities_datalist(client_for, operator_user):
    body = client_for(operator_user).get("/customers/").content.decode()
    assert 'list="city-options"' in body and '<datalist id="city-options">' in body
    assert 'hx-get="/customers/cities/"' in body
