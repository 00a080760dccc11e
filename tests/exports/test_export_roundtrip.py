"""Property: export then import is the identity (CSV and XLSX, recognised without help).

Random customers (names and notes starting with formula characters, leading-zero ids, several
phones and e-mails, tags, addresses, consents, birthdays with and without a year) are exported
with every importable column, in words and in codes, and:
imported back into the same base, nothing changes; imported into an emptied base, the export
of the result holds the same rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import translation
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from clientbase.customers.choices import Gender
from clientbase.customers.models import Customer
from clientbase.customers.services import (
    AddressInput,
    ConsentInput,
    CustomerInput,
    EmailInput,
    PhoneInput,
    customer_create,
)
from clientbase.exports import columns as catalogue
from clientbase.exports import selectors, services
from clientbase.imports.choices import ImportStatus
from clientbase.imports.services import import_file
from clientbase.orders.choices import OrderStatus, PaymentMethod
from clientbase.orders.models import Order
from clientbase.orders.services import ItemInput, OrderInput, order_upsert

pytestmark = pytest.mark.django_db

# Every column an import reads back, with the import field it goes to (created_at as "Customer
# since"); the primary phone and e-mail are the first of "All phones" / "All e-mails".
ROUND_TRIP = {
    "external_id": "external_id",
    "kind": "kind",
    "last_name": "last_name",
    "first_name": "first_name",
    "middle_name": "middle_name",
    "gender": "gender",
    "birthday": "birthday",
    "phones": "phone",
    "emails": "email",
    "postal_code": "postal_code",
    "region": "region",
    "city": "city",
    "address": "address",
    "tags": "tags",
    "notes": "notes",
    "vip": "vip",
    "consent_email": "consent_email",
    "consent_sms": "consent_sms",
    "created_at": "registered_at",
}

FORMULA = st.sampled_from(["", "", "=", "+", "-", "@"])
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


def _word(first: str, rest: str, size: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b: a + b,
        st.sampled_from(first),
        st.text(alphabet=rest, min_size=1, max_size=size),
    )


# (month, day) of any day of a leap year: 29 February is a birthday too.
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
YEARLESS = st.integers(1, 12).flatmap(
    lambda month: st.tuples(st.just(month), st.integers(1, MONTH_DAYS[month - 1]))
)

NAME = st.one_of(
    _word(CYRILLIC.upper(), CYRILLIC, 10), _word("ABCDEFGHIJ", "abcdefghijklmnopqrstuvwxyz", 10)
)


@st.composite
def customer(draw: Any, n: int) -> dict[str, Any]:
    return {
        "fields": {
            "last_name": draw(FORMULA) + draw(NAME),
            "first_name": draw(NAME),
            "middle_name": draw(st.one_of(st.just(""), NAME)),
            "gender": draw(st.sampled_from(["", "female", "male"])),
            "birthday": draw(
                st.one_of(st.none(), st.dates(dt.date(1940, 1, 1), dt.date(2008, 12, 31)))
            ),
            # Leading zeros must survive both formats.
            "external_id": draw(st.one_of(st.none(), st.just(f"00{n}"), st.just(f"EXT-{n}"))),
            "notes": draw(
                st.one_of(
                    st.just(""),
                    st.builds(lambda f, w: f + w + " заметка", FORMULA, NAME),
                )
            ),
            "vip": draw(st.booleans()),
        },
        # A birthday without a year (kept as its month and day), for a customer without a date.
        "yearless": draw(st.one_of(st.none(), YEARLESS)),
        "phones": [f"+7916{n:03d}{k:04d}" for k in range(draw(st.integers(1, 2)))],
        "emails": [f"c{n}e{k}@example.com" for k in range(draw(st.integers(0, 2)))],
        "address": draw(
            st.one_of(
                st.none(),
                st.builds(
                    lambda code, city: AddressInput(
                        city=city, line="ул. Ленина, д. 1", postal_code=code, region="Область"
                    ),
                    st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
                    st.sampled_from(["Москва", "Казань", "Тверь"]),
                ),
            )
        ),
        "tags": draw(st.lists(st.sampled_from(["Опт", "VIP", "Скидки", "=тег"]), unique=True)),
        "consents": [
            ConsentInput(channel, state)
            for channel in ("email", "sms")
            if (state := draw(st.sampled_from(["", "granted", "withdrawn"])))
        ],
    }


def _mapping() -> dict[str, Any]:
    """Header -> import field, as the export wrote them (the engine's round trip, apart from
    recognition, which the last test checks)."""
    columns = catalogue.columns_for("customers")
    return {"columns": {str(columns[key].label): field for key, field in ROUND_TRIP.items()}}


customers_strategy = st.integers(1, 6).flatmap(
    lambda size: st.tuples(*[customer(n) for n in range(size)])
)


def _make(spec: dict[str, Any]) -> None:
    made = customer_create(
        actor=None,
        data=CustomerInput(
            fields=spec["fields"],
            phones=[PhoneInput(p) for p in spec["phones"]],
            emails=[EmailInput(e) for e in spec["emails"]],
            addresses=[spec["address"]] if spec["address"] else None,
            tags=spec["tags"],
            consents=spec["consents"],
        ),
        confirm_duplicate=True,
    )
    if spec.get("yearless") and not spec["fields"].get("birthday"):
        # What an import of "08/24" leaves: the month and day, no date (the form has no way).
        month, day = spec["yearless"]
        Customer.objects.filter(pk=made.pk).update(birth_month=month, birth_day=day)


def _export(path: Path, file_format: str, codes: bool = False) -> list[tuple[Any, ...]]:
    """Export every customer to path; the rows (without the header) as a sorted list."""
    columns = catalogue.resolve_columns("customers", list(ROUND_TRIP), codes=codes)
    services.export_write(
        request=selectors.ExportRequest(kind="customers", filters={}),
        columns=columns,
        file_format=file_format,
        target=path,
    )
    if file_format == "xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    else:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [str(c.label) for c in columns]
    return sorted(tuple(str(cell) for cell in row) for row in rows[1:])


def _birthdays() -> list[tuple[str, ...]]:
    """Each customer's name with the birthday as stored (date, month, day), sorted."""
    rows = Customer.objects.values_list(
        "last_name", "first_name", "middle_name", "birthday", "birth_month", "birth_day"
    )
    return sorted(tuple(str(value) for value in row) for row in rows)


@pytest.fixture(autouse=True)
def _english_and_no_backup(settings: Any) -> Any:
    settings.IMPORT_BACKUP = False
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.mark.parametrize("codes", [False, True], ids=["words", "codes"])
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_then_import_is_the_identity(file_format: str, codes: bool, tmp_path: Path) -> None:
    MAPPING = _mapping()

    @settings(
        max_examples=12,
        deadline=None,
        # No shrinking: each example is a database round trip, and a failure prints its
        # customers anyway.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(specs=customers_strategy)
    def check(specs: tuple[dict[str, Any], ...]) -> None:
        with transaction.atomic():
            for spec in specs:
                _make(spec)
            path = tmp_path / f"customers.{file_format}"
            before = _export(path, file_format, codes)
            birthdays = _birthdays()

            # Into the same base: every row is found and nothing changes.
            job = import_file(actor=None, kind="customers", path=path, mapping=MAPPING)
            assert job.status == ImportStatus.DONE, job.failure
            assert (job.rows_created, job.rows_updated, job.rows_rejected) == (0, 0, 0), repr(
                job.report
            )
            assert job.rows_unchanged == len(specs)
            assert _export(tmp_path / f"again.{file_format}", file_format, codes) == before
            assert _birthdays() == birthdays

            # Into an emptied base: the same customers come back.
            Customer.objects.all().delete()
            job = import_file(actor=None, kind="customers", path=path, mapping=MAPPING)
            assert job.status == ImportStatus.DONE, job.failure
            assert (job.rows_created, job.rows_rejected) == (len(specs), 0), repr(job.report)
            assert _export(tmp_path / f"after.{file_format}", file_format, codes) == before
            # A birthday without a year comes back as its day and month, a date as the date.
            assert _birthdays() == birthdays
            transaction.set_rollback(True)

    check()


def test_the_exported_headers_are_recognised_as_their_fields(tmp_path: Path) -> None:
    """Without a mapping, the import maps every exported column back to its field."""
    _make(
        {
            "fields": {"last_name": "Иванов", "first_name": "Иван"},
            "phones": ["+79160000001"],
            "emails": ["ivan@example.com"],
            "address": AddressInput(city="Москва", line="ул. Ленина, 1"),
            "tags": ["Опт"],
            "consents": [ConsentInput("email", "granted"), ConsentInput("sms", "withdrawn")],
        }
    )
    path = tmp_path / "customers.csv"
    _export(path, "csv")
    job = import_file(actor=None, kind="customers", path=path, dry_run=True)
    assert [job.mapping.get(str(n)) for n in range(len(ROUND_TRIP))] == list(ROUND_TRIP.values())


# ---------------------------------------------------------------- birthdays without a year

BIRTHDAYS = {
    # external id: (birthday, month, day) as stored
    "B-1": (None, 8, 24),  # Mailchimp's "08/24"
    "B-2": (None, 2, 29),
    "B-3": (None, 1, 5),  # both numbers 12 or less: the order must still be read right
    "B-4": (dt.date(1990, 8, 24), 8, 24),
    "B-5": (None, None, None),
}


@pytest.mark.parametrize(
    ("language", "codes", "cells"),
    [
        ("ru", False, ["24.08", "29.02", "05.01", "1990-08-24", ""]),
        ("en", False, ["24.08", "29.02", "05.01", "1990-08-24", ""]),
        ("ru", True, ["--08-24", "--02-29", "--01-05", "1990-08-24", ""]),
    ],
    ids=["russian-words", "english-words", "codes"],
)
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_birthday_without_a_year_survives_export_then_import(
    language: str, codes: bool, cells: list[str], file_format: str, tmp_path: Path
) -> None:
    """It used to be an empty cell, lost by export-then-import. Now "24.08" in words (as
    Russians write a day of the year) and ISO 8601's "--08-24" in codes; a full date stays
    YYYY-MM-DD in both."""
    for number, (birthday, month, day) in BIRTHDAYS.items():
        made = customer_create(
            actor=None,
            data=CustomerInput(
                fields={
                    "external_id": number,
                    "last_name": f"Иванова{number}",
                    "birthday": birthday,
                },
                phones=[PhoneInput(f"+7916000000{number[-1]}")],
            ),
        )
        Customer.objects.filter(pk=made.pk).update(birth_month=month, birth_day=day)
    keys = {"external_id": "external_id", "last_name": "last_name", "birthday": "birthday"}
    path = tmp_path / f"c.{file_format}"
    with translation.override(language):
        columns = catalogue.resolve_columns("customers", list(keys), codes=codes)
        services.export_write(
            request=selectors.ExportRequest(kind="customers", filters={}),
            columns=columns,
            file_format=file_format,
            target=path,
        )
        mapping = _header_mapping("customers", keys)
    if file_format == "xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        written = [
            cell.isoformat() if isinstance(cell, dt.date) else str(cell) for _, _, cell in rows[1:]
        ]
    else:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        written = [cell for *_, cell in rows[1:]]
        # "--08-24" would be the formula -(-8)-24 to a spreadsheet: neutralised, as ever (the
        # import removes the apostrophe). An XLSX string cell is never run: written as it is.
        cells = ["'" + cell if cell.startswith("-") else cell for cell in cells]
    assert written == cells

    def stored() -> dict[str, tuple[Any, ...]]:
        return {
            number: (birthday, month, day)
            for number, birthday, month, day in Customer.objects.values_list(
                "external_id", "birthday", "birth_month", "birth_day"
            )
        }

    # Into the same base: nothing changes. Into an emptied one: the same birthdays come back.
    job = import_file(actor=None, kind="customers", path=path, mapping=mapping)
    assert (job.rows_unchanged, job.rows_updated, job.rows_rejected) == (5, 0, 0), job.report
    assert stored() == BIRTHDAYS
    Customer.objects.all().delete()
    job = import_file(actor=None, kind="customers", path=path, mapping=mapping)
    assert (job.rows_created, job.rows_rejected, job.rows_warned) == (5, 0, 0), job.report
    assert stored() == BIRTHDAYS


# ---------------------------------------------------------------- every choice, words or codes

CHOICE_CUSTOMERS = {
    "external_id": "external_id",
    "kind": "kind",
    "last_name": "last_name",
    "first_name": "first_name",
    "company_name": "company_name",
    "gender": "gender",
    "phones": "phone",
    "vip": "vip",
    "consent_email": "consent_email",
}
CHOICE_ORDERS = {
    "order_id": "order_id",
    "placed_at": "placed_at",
    "status": "status",
    "total": "total",
    "payment_method": "payment_method",
    "customer_external_id": "customer_external_id",
}


def _choice_base() -> None:
    """A customer of each kind and gender, and an order in every status and payment method."""
    made = []
    for n, gender in enumerate(Gender.values):
        made.append(
            customer_create(
                actor=None,
                data=CustomerInput(
                    fields={
                        "external_id": f"P-{n}",
                        "last_name": f"Иванова{'абв'[n]}",
                        "first_name": "Анна",
                        "gender": gender,
                        "vip": n == 1,
                    },
                    phones=[PhoneInput(f"+7916000000{n}")],
                    consents=[ConsentInput("email", "granted")] if n else [],
                ),
            )
        )
    made.append(
        customer_create(
            actor=None,
            data=CustomerInput(
                fields={"external_id": "C-1", "kind": "company", "company_name": "ООО Ромашка"},
                phones=[PhoneInput("+74950000001")],
            ),
        )
    )
    methods = PaymentMethod.values
    for n, status in enumerate(OrderStatus.values):
        order_upsert(
            actor=None,
            data=OrderInput(
                external_id=f"O-{n}",
                placed_at=dt.datetime(2026, 3, n + 1, 12, 0, tzinfo=dt.UTC),
                status=status,
                payment_method=methods[n % len(methods)],
                items=[ItemInput(name="Чайник", price=Decimal(100 + n))],
            ),
            customer=made[n % len(made)],
        )


def _export_file(kind: str, keys: dict[str, str], path: Path, codes: bool) -> list[list[str]]:
    columns = catalogue.resolve_columns(kind, list(keys), codes=codes)
    services.export_write(
        request=selectors.ExportRequest(kind=kind, filters={}),
        columns=columns,
        file_format="csv",
        target=path,
    )
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))


def _header_mapping(kind: str, keys: dict[str, str]) -> dict[str, Any]:
    columns = catalogue.columns_for(kind)
    return {"columns": {str(columns[key].label): field for key, field in keys.items()}}


@pytest.mark.parametrize(
    ("written_in", "read_in", "codes"),
    [("ru", "en", False), ("en", "ru", False), ("ru", "ru", True)],
    ids=["russian-words", "english-words", "codes"],
)
def test_every_choice_survives_export_then_import_in_words_or_codes(
    written_in: str, read_in: str, codes: bool, tmp_path: Path
) -> None:
    """Words are the default now: the import reads them back (in Russian and English, whatever
    the importing user's language), as it reads codes. Re-importing changes nothing; into an
    emptied base, the same customers and orders come back."""
    _choice_base()
    with translation.override(written_in):
        customers = _export_file("customers", CHOICE_CUSTOMERS, tmp_path / "c.csv", codes)
        orders = _export_file("orders", CHOICE_ORDERS, tmp_path / "o.csv", codes)
        customer_mapping = _header_mapping("customers", CHOICE_CUSTOMERS)
        order_mapping = _header_mapping("orders", CHOICE_ORDERS)
    words = {row[1] for row in customers[1:]} | {row[2] for row in orders[1:]}
    if codes:
        assert words == {"person", "company", *OrderStatus.values}
    else:
        assert not words & {"person", "company", "new", "delivered"}, words

    with translation.override(read_in):
        job = import_file(
            actor=None, kind="customers", path=tmp_path / "c.csv", mapping=customer_mapping
        )
        assert (job.rows_unchanged, job.rows_updated, job.rows_rejected) == (4, 0, 0), job.report
        job = import_file(actor=None, kind="orders", path=tmp_path / "o.csv", mapping=order_mapping)
        assert (job.rows_unchanged, job.rows_updated, job.rows_rejected) == (8, 0, 0), job.report

        Order.objects.all().delete()
        Customer.objects.all().delete()
        job = import_file(
            actor=None, kind="customers", path=tmp_path / "c.csv", mapping=customer_mapping
        )
        assert (job.rows_created, job.rows_rejected) == (4, 0), job.report
        job = import_file(actor=None, kind="orders", path=tmp_path / "o.csv", mapping=order_mapping)
        assert (job.rows_created, job.rows_rejected) == (8, 0), job.report
    with translation.override(written_in):
        again_customers = _export_file("customers", CHOICE_CUSTOMERS, tmp_path / "c2.csv", codes)
        again_orders = _export_file("orders", CHOICE_ORDERS, tmp_path / "o2.csv", codes)
    assert sorted(again_customers) == sorted(customers)
    assert sorted(again_orders) == sorted(orders)
