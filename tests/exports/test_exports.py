"""The exporter: column catalogues, CSV and XLSX cells, neutralised formulas, filters, queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation
from python_calamine import CalamineWorkbook

from clientbase.accounts.choices import Role
from clientbase.core import file_fields
from clientbase.core.choices import AuditAction
from clientbase.core.file_fields import fields_for
from clientbase.core.models import AuditEvent
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
from clientbase.exports import selectors, services, writers
from clientbase.exports.choices import ExportStatus
from clientbase.exports.models import ExportJob
from clientbase.exports.selectors import ExportRequest
from clientbase.orders.models import Order
from clientbase.orders.services import ItemInput, OrderInput, order_upsert
from clientbase.segments import services as segment_services
from tests import factories


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    """Headers are asserted by their English msgids."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def shop(db: Any) -> dict[str, Any]:
    """A full card with hostile text, a plain customer, a company, and two orders."""
    manager = factories.make_user(role=Role.MANAGER, username="olga")
    full = customer_create(
        actor=None,
        data=CustomerInput(
            fields={
                "last_name": '=HYPERLINK("http://evil")',
                "first_name": "+Анна",
                "middle_name": "-Петровна",
                "gender": "female",
                "birthday": dt.date(1990, 8, 24),
                "external_id": "0042",
                "notes": "@SUM(A1:A9)",
                "vip": True,
                "manager": manager,
                "source": "website",
            },
            phones=[PhoneInput("+79161234567"), PhoneInput("+79031112233", is_primary=True)],
            emails=[EmailInput("anna@example.com", is_primary=True), EmailInput("a2@example.com")],
            addresses=[
                AddressInput(
                    city="Москва",
                    line="ул. Ленина, 1",
                    postal_code="101000",
                    region="Москва",
                    is_default=True,
                )
            ],
            tags=["Опт", "VIP"],
            consents=[ConsentInput("email", "granted"), ConsentInput("sms", "withdrawn")],
        ),
    )
    plain = factories.make_customer(last_name="Простой", phones=["+79160000002"])
    company = factories.make_customer(
        kind="company",
        company_name="ООО Ромашка",
        last_name="",
        first_name="",
        inn="7707083893",
        phones=["+79160000003"],
    )
    first = order_upsert(
        actor=None,
        data=OrderInput(
            external_id="A-1",
            placed_at=timezone.make_aware(dt.datetime(2026, 3, 1, 10, 30)),
            status="delivered",
            payment_method="cod",
            delivery_method="=cmd|' /C calc'!A0",
            items=[
                ItemInput(name="Чайник", quantity=Decimal("2"), price=Decimal("1000")),
                ItemInput(name="Сахар", quantity=Decimal("0.5"), price=Decimal("100")),
            ],
        ),
        customer=full,
    )[0]
    second = order_upsert(
        actor=None,
        data=OrderInput(
            external_id="B-2",
            placed_at=timezone.make_aware(dt.datetime(2026, 4, 2, 9, 0)),
            status="new",
            items=[ItemInput(name="Мёд", price=Decimal("300"))],
        ),
        customer=company,
    )[0]
    return {
        "full": full,
        "plain": plain,
        "company": company,
        "manager": manager,
        "orders": [first, second],
    }


def _csv(
    kind: str, request: ExportRequest, keys: list[str] | None = None, *, codes: bool = False
) -> list[list[str]]:
    columns = catalogue.resolve_columns(kind, keys, codes=codes)
    text = "".join(services.export_csv_stream(request, columns))
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def _by_header(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


CUSTOMERS = ExportRequest(kind="customers", filters={})


def test_neutralise_every_formula_start():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert file_fields.neutralise(start + "1") == "'" + start + "1"
    assert file_fields.neutralise("Иванов") == "Иванов"
    assert file_fields.neutralise(None) == ""
    assert file_fields.neutralise(42) == "42"


def test_default_headers_are_the_import_labels():
    """An exported file is recognised by the import: same labels where a column matches."""
    customer_labels = {str(f.label) for f in fields_for("customers").values()}
    columns = catalogue.resolve_columns("customers", None)
    headers = [str(c.label) for c in columns]
    for expected in ("External id", "Last name", "First name", "Phone", "E-mail", "Birthday"):
        assert expected in headers
    importable = [h for h in headers if h in customer_labels]
    assert len(importable) >= 20
    order_labels = {str(f.label) for f in fields_for("orders").values()}
    order_headers = [str(c.label) for c in catalogue.resolve_columns("orders", None)]
    for expected in ("Order number", "Order date", "Order total", "Customer e-mail", "Customer id"):
        assert expected in order_headers and expected in order_labels


def test_unknown_columns_are_refused():
    with pytest.raises(catalogue.ExportError, match="nope"):
        catalogue.resolve_columns("customers", ["phone", "nope"])
    with pytest.raises(catalogue.ExportError):
        catalogue.resolve_columns("parrots", None)


def test_customer_csv_values_and_neutralised_formulas(shop):
    keys = [c.key for c in catalogue.CUSTOMER_COLUMNS]  # every column
    rows = _by_header(_csv("customers", CUSTOMERS, keys))
    assert len(rows) == 3
    full = next(r for r in rows if r["clientbase id"] == str(shop["full"].pk))
    assert full["Last name"] == '\'=HYPERLINK("http://evil")'
    assert full["First name"] == "'+Анна"
    assert full["Middle name"] == "'-Петровна"
    assert full["Notes"] == "'@SUM(A1:A9)"
    assert full["External id"] == "0042"  # leading zero kept
    # A phone keeps its "+" as text: the apostrophe stops Excel making a number of it.
    assert full["Phone"] == "'+79031112233"
    assert full["All phones"] == "'+79031112233, +79161234567"
    assert full["E-mail"] == "anna@example.com"
    assert full["All e-mails"] == "anna@example.com, a2@example.com"
    assert (full["City"], full["Postal code"], full["Region"]) == ("Москва", "101000", "Москва")
    assert full["Street, house, flat"] == "ул. Ленина, 1"
    assert full["Tags"] == "VIP, Опт"
    # Choices and yes/no in words of the interface language by default (codes below).
    assert full["Person or company"] == "Person"
    assert full["Gender"] == "Female"
    assert full["Birthday"] == "1990-08-24"
    assert full["VIP"] == "yes"
    assert full["Agrees to e-mails"] == "yes"
    assert full["Agrees to SMS"] == "no"
    assert full["Manager"] == "olga"
    assert full["Source"] == "Website"
    assert full["Status"] == "Active"
    assert full["Orders"] == "1"
    assert full["Last order"] == "2026-03-01"
    assert full["Name"].startswith("'=HYPERLINK")
    plain = next(r for r in rows if r["clientbase id"] == str(shop["plain"].pk))
    assert plain["Agrees to e-mails"] == ""  # never asked is not "no"
    assert plain["VIP"] == "no"
    assert plain["Orders"] == "0" and plain["Revenue"] == "0"
    company = next(r for r in rows if r["clientbase id"] == str(shop["company"].pk))
    assert company["Name"] == "ООО Ромашка"
    assert company["INN"] == "7707083893"


CHOICE_AND_YES_NO = ["kind", "gender", "status", "source", "vip", "consent_email", "consent_sms"]


def test_customer_choices_in_russian_words_by_default_and_codes_on_request(shop):
    """A Russian user's file says "Частное лицо", not "person", under its Russian headers;
    codes are one option away, the same in every language."""
    with translation.override("ru"):
        words = _by_header(_csv("customers", CUSTOMERS, ["id", *CHOICE_AND_YES_NO]))
        codes = _by_header(_csv("customers", CUSTOMERS, ["id", *CHOICE_AND_YES_NO], codes=True))
    full_id = str(shop["full"].pk)
    full = next(r for r in words if r["ID в clientbase"] == full_id)
    assert list(full.values())[1:] == [
        "Частное лицо",
        "Женский",
        "Активен",
        "Сайт",
        "да",
        "да",
        "нет",
    ]
    full = next(r for r in codes if r["ID в clientbase"] == full_id)
    assert list(full.values())[1:] == ["person", "female", "active", "website", "yes", "yes", "no"]
    plain = next(r for r in words if r["ID в clientbase"] == str(shop["plain"].pk))
    assert plain["Пол"] == "" and plain["Согласие на e-mail-рассылку"] == ""  # unknown stays empty


def test_order_choices_in_words_or_codes(shop):
    with translation.override("ru"):
        words = _by_header(_csv("orders", ExportRequest(kind="orders", filters={}), None))
        codes = _by_header(
            _csv("orders", ExportRequest(kind="orders", filters={}), None, codes=True)
        )
    assert [(r["Статус заказа"], r["Способ оплаты"], r["Валюта"]) for r in words] == [
        ("Доставлен", "Наложенный платёж", "RUB"),
        ("Новый", "Банковская карта", "RUB"),
    ]
    assert [(r["Статус заказа"], r["Способ оплаты"]) for r in codes] == [
        ("delivered", "cod"),
        ("new", "card"),
    ]


def test_customer_since_is_local_time(shop, settings):
    moment = timezone.make_aware(dt.datetime(2026, 1, 10, 23, 30), dt.UTC)
    Customer.objects.filter(pk=shop["plain"].pk).update(created_at=moment)
    rows = _by_header(_csv("customers", CUSTOMERS, ["id", "created_at"]))
    plain = next(r for r in rows if r["clientbase id"] == str(shop["plain"].pk))
    assert plain["Customer since"] == "2026-01-11 02:30:00"  # Europe/Moscow, UTC+3


def test_order_csv(shop):
    keys = [c.key for c in catalogue.ORDER_COLUMNS]
    rows = _by_header(_csv("orders", ExportRequest(kind="orders", filters={}), keys))
    assert [r["Order number"] for r in rows] == ["A-1", "B-2"]
    first, second = rows
    assert first["Items"] == "Чайник × 2; Сахар × 0.5"
    assert first["Order total"] == "2050.00"
    assert first["Order status"] == "Delivered" and first["Payment method"] == "Cash on delivery"
    assert first["Delivery method"] == "'=cmd|' /C calc'!A0"
    assert first["Order date"] == "2026-03-01 10:30:00"
    assert first["Customer id"] == "0042"
    assert first["Customer phone"] == "'+79031112233"
    assert first["Customer e-mail"] == "anna@example.com"
    assert first["clientbase customer id"] == str(shop["full"].pk)
    assert second["Customer name (one column)"] == "ООО Ромашка"


def test_xlsx_cells_are_typed(shop, tmp_path):
    keys = ["id", "external_id", "last_name", "phone", "birthday", "created_at", "revenue"]
    keys += ["orders_count", "vip", "inn", "notes"]
    columns = catalogue.resolve_columns("customers", keys)
    target = tmp_path / "c.xlsx"
    count = services.export_write(
        request=CUSTOMERS, columns=columns, file_format="xlsx", target=target
    )
    assert count == 3
    sheet = CalamineWorkbook.from_path(str(target)).get_sheet_by_index(0)
    rows = sheet.to_python()
    assert rows[0] == [str(c.label) for c in columns]
    full = next(r for r in rows[1:] if r[0] == str(shop["full"].pk))
    (id_, external, last, phone, birthday, since, revenue, orders, vip, _inn, notes) = full
    # Ids and phones are string cells: never numbers, never formulas.
    assert isinstance(id_, str) and external == "0042"
    assert phone == "+79031112233"
    assert last == '\'=HYPERLINK("http://evil")'  # neutralised in XLSX too (re-saved as CSV)
    assert notes == "'@SUM(A1:A9)"
    assert birthday == dt.date(1990, 8, 24)
    assert isinstance(since, dt.datetime)
    assert revenue == pytest.approx(2050.0) and orders == 1
    assert vip == "yes"
    company = next(r for r in rows[1:] if r[0] == str(shop["company"].pk))
    assert company[9] == "7707083893" and isinstance(company[9], str)


def test_xlsx_phone_cells_are_strings_even_without_plus(shop, tmp_path):
    columns = catalogue.resolve_columns("customers", ["phone", "phones"])
    target = tmp_path / "p.xlsx"
    services.export_write(request=CUSTOMERS, columns=columns, file_format="xlsx", target=target)
    rows = CalamineWorkbook.from_path(str(target)).get_sheet_by_index(0).to_python()
    assert all(isinstance(cell, str) for row in rows[1:] for cell in row)


def test_filtered_list_exports_exactly_the_filtered_customers(shop):
    factories.make_customer(last_name="Казанский", city="Казань", phones=["+79160000009"])
    tag = shop["full"].tags.get(name="Опт")
    request = ExportRequest(kind="customers", filters={"tag": str(tag.pk)})
    assert [r[0] for r in _csv("customers", request, ["id"])[1:]] == [str(shop["full"].pk)]
    request = ExportRequest(kind="customers", filters={"city": "Казань"})
    assert [r[0] for r in _csv("customers", request, ["last_name"])[1:]] == ["Казанский"]
    request = ExportRequest(kind="customers", filters={"kind": "company"})
    assert [r[0] for r in _csv("customers", request, ["company_name"])[1:]] == ["ООО Ромашка"]
    # A search by phone in any format, as typed into the list's search box.
    request = ExportRequest(kind="customers", filters={"q": "8 (916) 000-00-02"})
    assert [r[0] for r in _csv("customers", request, ["id"])[1:]] == [str(shop["plain"].pk)]


def test_segment_and_query_requests(shop, admin_user):
    segment = segment_services.segment_save(actor=admin_user, name="VIP", query="vip")
    request = ExportRequest(kind="customers", filters={}, segment_id=segment.pk)
    assert [r[0] for r in _csv("customers", request, ["id"])[1:]] == [str(shop["full"].pk)]
    request = ExportRequest(kind="customers", filters={"query": "kind = company"})
    assert [r[0] for r in _csv("customers", request, ["id"])[1:]] == [str(shop["company"].pk)]


def test_order_filters(shop):
    def numbers(text: str) -> list[str]:
        request = ExportRequest(kind="orders", filters=selectors.parse_order_filter(text))
        return [r[0] for r in _csv("orders", request, ["order_id"])[1:]]

    assert numbers("") == ["A-1", "B-2"]
    assert numbers("status=delivered") == ["A-1"]
    assert numbers("status=open") == ["B-2"]
    assert numbers("from=2026-03-02") == ["B-2"]
    assert numbers("to=2026-03-01") == ["A-1"]
    assert numbers(f"customer={shop['company'].pk}") == ["B-2"]
    assert numbers("status=delivered, from=2026-01-01, to=2026-12-31") == ["A-1"]
    for bad in ("status=lost", "from=yesterday", "colour=red", "status", "customer=x"):
        with pytest.raises(selectors.OrderFilterError):
            selectors.parse_order_filter(bad)


def test_queries_do_not_grow_with_the_rows(shop, django_assert_max_num_queries):
    """One query per batch for the rows plus one per related loader: no N+1."""
    for n in range(40):
        factories.make_customer(
            last_name=f"Много{n}", phones=[f"+7926{n:07d}"], tags=["x"], city="Тверь"
        )
    every = catalogue.resolve_columns("customers", [c.key for c in catalogue.CUSTOMER_COLUMNS])
    loaders = len({c.needs for c in every if c.needs})
    assert loaders == 5
    with django_assert_max_num_queries(1 + loaders):
        rows = list(selectors.export_rows(Customer.objects.all(), every))
    assert len(rows) == 43
    # Batches of 10: five batches (the last one short), each 1 + loaders queries.
    with django_assert_max_num_queries(5 * (1 + loaders)):
        rows = list(selectors.export_rows(Customer.objects.all(), every, batch_size=10))
    assert len(rows) == 43
    orders = catalogue.resolve_columns("orders", [c.key for c in catalogue.ORDER_COLUMNS])
    with django_assert_max_num_queries(2):
        assert len(list(selectors.export_rows(Order.objects.all(), orders))) == 2


def test_keyset_batches_cover_every_row_once(shop):
    for n in range(25):
        factories.make_customer(last_name=f"К{n}", phones=[f"+7927{n:07d}"])
    columns = catalogue.resolve_columns("customers", ["id"])
    ids = [row[0] for row in selectors.export_rows(Customer.objects.all(), columns, batch_size=7)]
    assert ids == sorted(Customer.objects.values_list("pk", flat=True))


def test_xlsx_continues_on_a_next_sheet(monkeypatch, tmp_path):
    monkeypatch.setattr(writers, "XLSX_SHEET_ROWS", 4)
    columns = catalogue.resolve_columns("customers", ["id"])
    rows = ([n] for n in range(1, 8))
    target = tmp_path / "many.xlsx"
    assert writers.write_xlsx(str(target), rows, columns, sheet_name="Customers") == 7
    book = CalamineWorkbook.from_path(str(target))
    assert book.sheet_names == ["Customers", "Customers (2)", "Customers (3)"]
    sheets = [book.get_sheet_by_name(name).to_python() for name in book.sheet_names]
    assert [len(s) for s in sheets] == [4, 4, 2]  # header + 3, header + 3, header + 1
    assert [r[0] for s in sheets for r in s[1:]] == [str(n) for n in range(1, 8)]


def test_job_runs_to_a_file_and_is_audited_once(shop, settings, tmp_path):
    from clientbase.core.choices import AuditAction
    from clientbase.core.models import AuditEvent

    settings.DATA_DIR = tmp_path
    job = ExportJob.objects.create(
        kind="customers",
        file_format="csv",
        created_by=shop["manager"],
        filters={"kind": "person"},
        columns=["id", "last_name"],
    )
    services.export_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE and job.rows == 2
    path = services.export_job_file(job)
    assert path is not None and path.parent == tmp_path / "exports"
    assert path.read_text(encoding="utf-8-sig").count("\n") == 3
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.actor_id == shop["manager"].pk
    assert event.extra["rows"] == 2 and event.extra["job"] == job.pk
    assert event.extra["filters"] == {"kind": "person"}
    # Run again (a retried task): nothing is written twice.
    services.export_job_run(job.pk)
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == 1


def test_a_failing_job_is_marked_failed(shop, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    job = ExportJob.objects.create(kind="customers", file_format="csv", columns=["nope"])
    assert services.export_job_run(job.pk).status == ExportStatus.FAILED
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "nope" in job.failure
    assert services.export_job_file(job) is None


def test_old_export_files_are_pruned(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    directory = services.exports_dir()
    old, new = directory / "export-1-old.csv", directory / "export-2-new.csv"
    old.write_text("x")
    new.write_text("y")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    job = ExportJob.objects.create(
        kind="customers",
        file_format="csv",
        status=ExportStatus.DONE,
        file_path=str(Path("exports") / old.name),
    )
    assert services.export_files_prune() == 1
    assert not old.exists() and new.exists()
    job.refresh_from_db()
    assert job.file_path == "" and services.export_job_file(job) is None


def test_a_stored_path_outside_the_data_dir_is_never_served(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    (tmp_path / "secret.txt").write_text("x")
    job = ExportJob(kind="customers", file_format="csv", status="done", file_path="../secret.txt")
    assert services.export_job_file(job) is None


DOCS = Path(__file__).resolve().parents[2] / "docs" / "import-export.md"


def test_docs_list_every_column_with_its_header_and_default():
    text = DOCS.read_text(encoding="utf-8")
    export = text.split("## Export", 1)[1]
    for kind, title in (("customers", "### Customer columns"), ("orders", "### Order columns")):
        table = export.split(title, 1)[1].split("\n### ", 1)[0]
        rows = {
            line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:4]]
            for line in table.splitlines()
            if line.startswith("| `")
        }
        expected = {
            c.key: [str(c.label), "✓" if c.default else ""] for c in catalogue.COLUMNS[kind]
        }
        assert rows == expected, kind


def test_docs_examples_are_valid_filters(db):
    from clientbase.segments.language import canonical

    text = DOCS.read_text(encoding="utf-8")
    assert canonical("vip or importance = vip") in {"vip = true or importance = vip"}
    assert "--filter 'vip or importance = vip'" in text
    assert selectors.parse_order_filter("status=delivered,from=2026-01-01,to=2026-03-31")
    assert selectors.parse_order_filter("status=delivered,from=2026-01-01")


@pytest.mark.parametrize("spread", [False, True])
def test_related_rows_of_a_filtered_batch_belong_to_its_customers(db, spread):
    """Dense batches read related rows by id range, sparse ones by an id list: same result."""
    made = [
        factories.make_customer(last_name=f"Р{n}", phones=[f"+7925{n:07d}"], tags=[f"t{n}"])
        for n in range(12)
    ]
    chosen = [made[0], made[-1]] if spread else [made[0], made[2], made[3]]
    columns = catalogue.resolve_columns("customers", ["id", "phones", "tags"])
    queryset = Customer.objects.filter(pk__in=[c.pk for c in chosen])
    rows = list(selectors.export_rows(queryset, columns))
    assert rows == [[c.pk, c.primary_phone, c.last_name.replace("Р", "t")] for c in chosen]


def test_a_job_writes_in_the_language_of_the_one_who_asked_with_words_or_codes(
    shop, settings, tmp_path
):
    """The worker runs in the shop's LANGUAGE_CODE; the job keeps the asker's language (and the
    words-or-codes choice), so an English user's file has English headers and words."""
    settings.DATA_DIR = tmp_path
    settings.LANGUAGE_CODE = "ru"
    columns = catalogue.resolve_columns("customers", ["id", "kind", "vip"])
    request = ExportRequest(kind="customers", filters={})
    with translation.override("en"):
        words = services.export_job_create(
            actor=None, request=request, columns=columns, file_format="csv"
        )
        codes = services.export_job_create(
            actor=None, request=request, columns=columns, file_format="csv", codes=True
        )
    assert (words.language, words.codes, codes.codes) == ("en", False, True)
    with translation.override("ru"):
        services.export_job_run(words.pk)
        services.export_job_run(codes.pk)
    read = {}
    for job in (words, codes):
        job.refresh_from_db()
        text = services.export_job_file(job).read_text(encoding="utf-8-sig")
        read[job.codes] = list(csv.reader(io.StringIO(text), delimiter=";"))
    full = str(shop["full"].pk)
    assert read[False][0] == ["clientbase id", "Person or company", "VIP"]
    assert [r for r in read[False] if r[0] == full] == [[full, "Person", "yes"]]
    assert [r for r in read[True] if r[0] == full] == [[full, "person", "yes"]]
    audits = AuditEvent.objects.filter(action=AuditAction.EXPORT).order_by("pk")
    assert [a.extra["values"] for a in audits] == ["labels", "codes"]


def test_an_internal_error_fails_the_job_without_logging_its_message(
    shop, settings, tmp_path, monkeypatch, caplog
):
    """A database error may quote the customer values it choked on: the job keeps the error's
    type, the log its type and frames, and neither the message (as imports do)."""
    settings.DATA_DIR = tmp_path

    quoted = "value too long: Лебедева +79161234567"

    def choke(**kwargs):
        raise RuntimeError(quoted)  # the frames show this line, not the value

    monkeypatch.setattr(services, "export_write", choke)
    job = ExportJob.objects.create(kind="customers", file_format="csv")
    with caplog.at_level("DEBUG"):
        assert services.export_job_run(job.pk).status == ExportStatus.FAILED
    job.refresh_from_db()
    assert "RuntimeError" in job.failure and "79161234567" not in job.failure
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "RuntimeError" in logged
    assert "79161234567" not in logged and "Лебедева" not in logged
