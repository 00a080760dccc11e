"""Vectorised normalisation of imported rows: every kind of value and the quirks of real files."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from django.utils import translation

from clientbase.imports.normalize import normalize_batch


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def frame(*columns: list[str], problems: list[str | None] | None = None) -> pl.DataFrame:
    height = len(columns[0])
    data: dict[str, Any] = {f"c{i}": values for i, values in enumerate(columns)}
    data["__row"] = list(range(2, height + 2))
    data["__problem"] = problems or [None] * height
    return pl.DataFrame(data, schema_overrides={"__row": pl.Int64, "__problem": pl.String})


def run(values: list[str], field: str, kind: str = "customers", **more: Any) -> pl.DataFrame:
    return normalize_batch(
        frame(values), {"c0": field}, kind, headers={"c0": "Column"}, region="RU", **more
    )


def one(value: str, field: str, kind: str = "customers") -> dict[str, Any]:
    return run([value], field, kind).row(0, named=True)


PHONES = [
    ("8 (916) 123-45-67", "+79161234567"),
    ("+7(916)1234567", "+79161234567"),
    ("79161234567", "+79161234567"),
    ("9161234567", "+79161234567"),
    ("8-916-123-45-67", "+79161234567"),
    ("8.916.123.45.67", "+79161234567"),
    ("'+7 916 123 45 67", "+79161234567"),
    ('="89161234567"', "+79161234567"),
    ("0079161234567", "+79161234567"),
    ("79161234567.0", "+79161234567"),
    ("7.9161234567E+10", "+79161234567"),
    ("+7 701 234 5678", "+77012345678"),  # Kazakhstan shares +7
    ("8 800 100-00-00", "+78001000000"),
    ("+373 69 123 456", "+37369123456"),  # another country: the reference decides
    ("+40 722 123 456", "+40722123456"),
    ("+1 650 253 0000", "+16502530000"),
    ("(495) 123-45-67", "+74951234567"),
]


@pytest.mark.parametrize(("raw", "e164"), PHONES)
def test_phone_forms(raw: str, e164: str) -> None:
    row = one(raw, "phone")
    assert row["phones"] == [e164]
    assert row["__error_reason"] is None


@pytest.mark.parametrize(
    "raw", ["12345", "8 (016) 123-45-67", "+7 123", "abc", "7.91612346E+10", "+7 916 123 45 67 89"]
)
def test_bad_phones_are_reported_with_the_reference_message(raw: str) -> None:
    row = one(raw, "phone")
    assert row["phones"] is None
    assert row["__error_column"] == "Column"
    assert row["__error_value"] == raw
    assert row["__error_reason"] == (
        f"“{raw}” is not a valid phone number. Example: +7 916 123-45-67."
    )


def test_several_phones_in_a_cell_and_in_columns_keep_column_order_without_duplicates() -> None:
    df = frame(["8 916 123-45-67; +7 926 000 00 00", ""], ["+79161234567, 8 (903) 111-22-33", "-"])
    out = normalize_batch(df, {"c0": "phone", "c1": "phone"}, "customers", headers={}, region="RU")
    assert out["phones"].to_list() == [["+79161234567", "+79260000000", "+79031112233"], None]
    assert out["__error_reason"].to_list() == [None, None]


def test_one_bad_number_among_several_rejects_the_row() -> None:
    row = one("8 916 123-45-67; 123", "phone")
    assert row["__error_value"] == "8 916 123-45-67; 123"
    assert row["__error_reason"].endswith("is not a valid phone number. Example: +7 916 123-45-67.")


def test_order_phone_and_email_are_single_values() -> None:
    out = normalize_batch(
        frame(["8 916 123-45-67"], [" Ivan@Mail.RU "]),
        {"c0": "customer_phone", "c1": "customer_email"},
        "orders",
        headers={},
        region="RU",
    )
    assert out.schema["customer_phone"] == pl.String
    assert out.row(0, named=True)["customer_phone"] == "+79161234567"
    assert out.row(0, named=True)["customer_email"] == "ivan@mail.ru"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" Ivan.Petrov@Mail.RU ", "ivan.petrov@mail.ru"),
        ("<ivan@mail.ru>", "ivan@mail.ru"),
        ("ivan+shop@yandex.ru", "ivan+shop@yandex.ru"),
        ("Иван@почта.рф", "иван@почта.рф"),  # international: the reference decides
        ("a@b.com; C@D.org", None),  # two addresses, checked below
    ],
)
def test_email_forms(raw: str, normal: str | None) -> None:
    row = one(raw, "email")
    if normal is not None:
        assert row["emails"] == [normal]
    else:
        assert row["emails"] == ["a@b.com", "c@d.org"]
    assert row["__error_reason"] is None


@pytest.mark.parametrize("raw", ["ivan@", "ivan", "ivan@localhost", "ivan@site.test", "a..b@x.ru"])
def test_bad_emails(raw: str) -> None:
    row = one(raw, "email")
    assert row["emails"] is None
    assert row["__error_reason"] == f"“{raw}” is not a valid e-mail address."


@pytest.mark.parametrize(
    ("raw", "date"),
    [
        ("24.08.1990", dt.date(1990, 8, 24)),
        ("4.8.1990", dt.date(1990, 8, 4)),
        ("24.08.90", dt.date(1990, 8, 24)),
        ("1990-08-24", dt.date(1990, 8, 24)),
        ("24-08-1990", dt.date(1990, 8, 24)),
        ("24/08/1990", dt.date(1990, 8, 24)),
        ("33109", dt.date(1990, 8, 24)),
        ("24 августа 1990", dt.date(1990, 8, 24)),
        ("24 авг. 1990 г.", dt.date(1990, 8, 24)),
        ("1 мая 1985", dt.date(1985, 5, 1)),
        ("Aug 24, 1990", dt.date(1990, 8, 24)),
        ("19900824", dt.date(1990, 8, 24)),
        ("1990-08-24 10:30", dt.date(1990, 8, 24)),
        # Midnight in Moscow written as UTC by a JavaScript export.
        ("1990-08-23T21:00:00.000Z", dt.date(1990, 8, 24)),
    ],
)
def test_date_forms(raw: str, date: dt.date) -> None:
    row = one(raw, "birthday")
    assert (row["birthday"], row["__error_reason"]) == (date, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("31.02.1990", "not a date"),
        ("вчера", "not a date"),
        ("30.02", "not a date"),  # the shape of a day without a year, but no day
        ("12", "not a date"),  # too small for an Excel serial
        ("01.01.2999", "a birthday cannot be in the future"),
        ("01.01.1899", "a birthday cannot be before 1900"),
    ],
)
def test_bad_dates(raw: str, reason: str) -> None:
    row = one(raw, "birthday")
    assert (row["birthday"], row["__error_reason"]) == (None, reason)


def test_slash_dates_are_read_month_first_only_when_the_column_needs_it() -> None:
    us = run(["08/24/1990", "01/02/2000"], "birthday")["birthday"].to_list()
    assert us == [dt.date(1990, 8, 24), dt.date(2000, 1, 2)]
    russian = run(["24/08/1990", "01/02/2000"], "birthday")["birthday"].to_list()
    assert russian == [dt.date(1990, 8, 24), dt.date(2000, 2, 1)]


@pytest.mark.parametrize(
    ("raw", "moment"),
    [
        ("2024-03-01", dt.datetime(2024, 3, 1)),
        ("01.03.2024 14:05", dt.datetime(2024, 3, 1, 14, 5)),
        ("2024-03-01 14:05:09", dt.datetime(2024, 3, 1, 14, 5, 9)),
        ("2024-03-01T11:05:09Z", dt.datetime(2024, 3, 1, 14, 5, 9)),
        ("2024-03-01T14:05:09+03:00", dt.datetime(2024, 3, 1, 14, 5, 9)),
        ("2024-03-01T12:05:09.250+01:00", dt.datetime(2024, 3, 1, 14, 5, 9, 250000)),
        ("45352.5", dt.datetime(2024, 3, 1, 12, 0)),
    ],
)
def test_datetime_forms_are_local_naive(raw: str, moment: dt.datetime) -> None:
    row = one(raw, "placed_at", "orders")
    assert (row["placed_at"], row["__error_reason"]) == (moment, None)


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1 234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("1234.5 ₽", Decimal("1234.50")),
        ("$12", Decimal("12.00")),
        ("12 руб.", Decimal("12.00")),
        ("1.234,50 €", Decimal("1234.50")),
        ("1\u00a0234,50", Decimal("1234.50")),
        ("1 234 567", Decimal("1234567.00")),
        ("1,234", Decimal("1234.00")),
        ("0,5", Decimal("0.50")),
        ("100 RUB", Decimal("100.00")),
        # A spreadsheet formula's binary float, as the reader writes it out.
        ("19.989999999999998", Decimal("19.99")),
        ("1234.5000000000002", Decimal("1234.50")),
    ],
)
def test_money_forms(raw: str, amount: Decimal) -> None:
    row = one(raw, "total", "orders")
    assert (row["total"], row["__error_reason"]) == (amount, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("-5", "must not be negative"),
        ("abc", "not an amount"),
        ("1,2345", "too many decimal places (max 2)"),
        ("1234567890123", "too large"),
    ],
)
def test_bad_money(raw: str, reason: str) -> None:
    row = one(raw, "total", "orders")
    assert (row["total"], row["__error_reason"]) == (None, reason)


def test_quantity_reads_a_single_separator_as_the_decimal_point() -> None:
    out = run(["1,250", "2", "0.5"], "item_quantity", "orders")
    assert out.schema["item_quantity"] == pl.Decimal(12, 3)
    assert out["item_quantity"].to_list() == [Decimal("1.250"), Decimal("2.000"), Decimal("0.500")]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("да", True), ("Нет", False), ("yes", True), ("no", False), ("TRUE", True), ("0", False),
        ("1", True), ("y", True), ("n", False), ("+", True), ("-", False), ("подписан", True),
        ("subscribed", True), ("unsubscribed", False), ("opt-in", True), ("opt-out", False),
        ("da", True), ("nu", False), ("", None), ("n/a", None),
    ],
)  # fmt: skip
def test_booleans(raw: str, value: bool | None) -> None:
    row = one(raw, "consent_email")
    assert (row["consent_email"], row["__error_reason"]) == (value, None)


def test_unknown_boolean_is_an_error() -> None:
    assert one("maybe", "vip")["__error_reason"] == "expected yes or no"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("Ж", "female"), ("мужской", "male"), ("Female", "female"), ("ЮР. ЛИЦО", "company")],
)
def test_choices_by_value_or_synonym(raw: str, stored: str) -> None:
    field = "kind" if "лицо" in raw.lower() else "gender"
    assert one(raw, field)[field] == stored


def test_choice_yo_is_e_and_unknown_values_list_the_choices() -> None:
    out = run(["Подтверждён", "в ОБРАБОТКЕ", "потерян"], "status", "orders")
    assert out["status"].to_list() == ["confirmed", "confirmed", None]
    assert out["__error_reason"][2] == (
        "unknown value; expected one of new, confirmed, paid, shipped, delivered, refused, "
        "cancelled, returned"
    )


def test_tags_split_trimmed_deduplicated_across_columns() -> None:
    out = normalize_batch(
        frame(["vip, опт; new|vip\nлояльный", "", "x" * 61], ["new; other", "—", ""]),
        {"c0": "tags", "c1": "tags"},
        "customers",
        headers={"c0": "Tags"},
        region="RU",
    )
    assert out["tags"].to_list()[:2] == [["vip", "опт", "new", "лояльный", "other"], None]
    assert out.row(2, named=True)["__error_reason"] == "too long (max 60 characters)"


def test_text_is_trimmed_collapsed_and_checked_for_length() -> None:
    out = run(["  Москва   Сити ", "нет данных", "x" * 101], "city")
    assert out["city"].to_list()[:2] == ["Москва Сити", None]
    assert out["__error_reason"].to_list() == [None, None, "too long (max 100 characters)"]


@pytest.mark.parametrize(
    ("raw", "last", "first", "middle"),
    [
        ("Иванов Иван Иванович", "Иванов", "Иван", "Иванович"),
        ("Иван Иванович Иванов", "Иванов", "Иван", "Иванович"),
        ("Иван Иванов", "Иванов", "Иван", None),
        ("Иванов Иван", "Иванов", "Иван", None),
        ("Петрова  Анна   Сергеевна", "Петрова", "Анна", "Сергеевна"),
        ("Мамедов Ахмед Рашид оглы", "Мамедов", "Ахмед", "Рашид оглы"),
        ("Ivan Ivanov", "Ivanov", "Ivan", None),
        ("John Smith", "Smith", "John", None),
        ("Smith, John", "Smith", "John", None),
        ("Лев Толстой", "Толстой", "Лев", None),
        ("Popescu Ion", "Popescu", "Ion", None),
        ("Анна", None, "Анна", None),
    ],
)
def test_full_name_split(raw: str, last: str | None, first: str, middle: str | None) -> None:
    row = one(raw, "full_name")
    assert (row["last_name"], row["first_name"], row["middle_name"]) == (last, first, middle)


@pytest.mark.parametrize(
    ("raw", "last", "first", "middle"),
    [
        # A first name with a family-name ending ("-ина") is still a first name.
        ("Лебедева Ирина", "Лебедева", "Ирина", None),
        ("Ирина Лебедева", "Лебедева", "Ирина", None),
        ("Галкина Марина Олеговна", "Галкина", "Марина", "Олеговна"),
        ("Полина Сергеевна Ильина", "Ильина", "Полина", "Сергеевна"),
        ("Ковальчук Ольга", "Ковальчук", "Ольга", None),
        ("Smith John", "Smith", "John", None),
        ("Anna Maria Popescu", "Popescu", "Anna", "Maria"),
        ("Иванов И. И.", "Иванов", "И.И.", None),
        ("Иванов", "Иванов", None, None),  # one word with a family-name ending
    ],
)
def test_full_name_order_comes_from_what_the_words_are(
    raw: str, last: str | None, first: str | None, middle: str | None
) -> None:
    row = run([raw], "full_name", lenient=True).row(0, named=True)
    assert (row["last_name"], row["first_name"], row["middle_name"]) == (last, first, middle)
    assert row["__warnings"] is None


@pytest.mark.parametrize(
    "raw",
    [
        "ООО Ромашка",
        "ООО «Ромашка»",
        'ПАО "Газпром"',
        "ИП Сидоров А. А.",
        "Ромашка, LLC",
        "АО Альфа",
    ],
)
def test_a_legal_form_makes_the_full_name_a_company(raw: str) -> None:
    row = run([raw], "full_name", lenient=True).row(0, named=True)
    assert (row["last_name"], row["first_name"], row["middle_name"]) == (None, None, None)
    assert (row["company_name"], row["kind"]) == (raw, "company")


def test_an_unclear_name_order_is_a_warning_unless_the_column_says() -> None:
    alone = run(["Ким Ли"], "full_name", lenient=True).row(0, named=True)
    assert (alone["last_name"], alone["first_name"]) == ("Ким", "Ли")
    assert alone["__warnings"] == [
        {
            "column": "Column",
            "value": "Ким Ли",
            "reason": "the order of the words is a guess: last name “Ким”, first name “Ли”",
        }
    ]
    # Most names of this column come first-name first: the unclear one follows them.
    column = ["Анна Петрова", "Иван Сидоров", "Ольга Жукова", "Пётр Орлов", "Ким Ли"]
    out = run(column, "full_name", lenient=True)
    assert out.row(4, named=True)["first_name"] == "Ким"
    assert out.row(4, named=True)["last_name"] == "Ли"
    assert out["__warnings"].to_list() == [None] * 5


@pytest.mark.parametrize(
    ("raw", "month", "day"),
    [
        ("08/24", 8, 24),  # Mailchimp: month first
        ("24.08", 8, 24),
        ("24 августа", 8, 24),
        ("24 Aug", 8, 24),
        ("August 24", 8, 24),
        ("--08-24", 8, 24),
        ("29.02", 2, 29),
    ],
)
def test_a_birthday_without_a_year_keeps_its_day_and_month(raw: str, month: int, day: int) -> None:
    row = run([raw], "birthday", lenient=True).row(0, named=True)
    assert (row["birthday"], row["birth_month"], row["birth_day"]) == (None, month, day)
    assert (row["__error_reason"], row["__warnings"]) == (None, None)


def test_slash_days_without_a_year_are_day_first_when_the_column_says_so() -> None:
    out = run(["05/06", "24/08"], "birthday", lenient=True)
    assert out.select("birth_month", "birth_day").rows() == [(6, 5), (8, 24)]


def test_lenient_leaves_an_unreadable_value_out_and_warns() -> None:
    out = normalize_batch(
        frame(
            ["Анна", "Пётр", "Ольга"], ["31.02.1990", "24.08.1990", ""], ["12345", "", "x" * 101]
        ),
        {"c0": "first_name", "c1": "birthday", "c2": "city"},
        "customers",
        headers={"c0": "Имя", "c1": "ДР", "c2": "Город"},
        region="RU",
        lenient=True,
    )
    assert out["__error_reason"].to_list() == [None, None, None]
    assert out["birthday"].to_list() == [None, dt.date(1990, 8, 24), None]
    assert out["city"].to_list() == ["12345", None, None]
    assert out["__warnings"].to_list() == [
        [{"column": "ДР", "value": "31.02.1990", "reason": "not a date"}],
        None,
        [{"column": "Город", "value": "x" * 100, "reason": "too long (max 100 characters)"}],
    ]


def test_lenient_still_rejects_an_unreadable_external_id() -> None:
    out = normalize_batch(
        frame(["x" * 101], ["Анна"]),
        {"c0": "external_id", "c1": "first_name"},
        "customers",
        headers={"c0": "ID"},
        region="RU",
        lenient=True,
    )
    row = out.row(0, named=True)
    assert (row["__error_column"], row["__error_reason"]) == ("ID", "too long (max 100 characters)")
    assert row["external_id"] is None


def test_a_name_mapped_on_its_own_wins_over_the_split() -> None:
    out = normalize_batch(
        frame(["Иванов Иван Иванович", "Петров Пётр"], ["Ivanovich", ""]),
        {"c0": "full_name", "c1": "middle_name"},
        "customers",
        headers={},
        region="RU",
    )
    assert out["middle_name"].to_list() == ["Ivanovich", None]
    assert out["first_name"].to_list() == ["Иван", "Пётр"]


def test_order_names_are_prefixed() -> None:
    out = run(["Иванов Иван Иванович"], "customer_full_name", "orders")
    assert out.row(0, named=True)["customer_middle_name"] == "Иванович"
    assert out.row(0, named=True)["customer_last_name"] == "Иванов"


def test_requisites_use_the_reference_validators() -> None:
    out = normalize_batch(
        frame(
            ["7707083893", "7707083894", ""],
            ["773601001", "", ""],
            ["044525225", "044525225", ""],
            ["40702810400000000001", "40702810400000000000", ""],
        ),
        {"c0": "inn", "c1": "kpp", "c2": "bank_bic", "c3": "bank_account"},
        "customers",
        headers={"c0": "ИНН", "c3": "Р/с"},
        region="RU",
    )
    assert out["inn"].to_list() == ["7707083893", None, None]
    assert out["__error_reason"].to_list()[1] == "INN check digit is wrong: check the number."
    assert out["__error_column"].to_list()[1] == "ИНН"


def test_placeholders_are_empty_not_errors() -> None:
    for field in ("phone", "email", "birthday", "tags", "city", "gender", "inn"):
        out = run(["", "-", "—", "n/a", "нет данных", "NULL", "None"], field)
        assert out["__error_reason"].null_count() == 7, field
        assert out.drop(
            "__row", "__error_column", "__error_value", "__error_reason"
        ).null_count().row(0) == (7,) * (out.width - 4), field


def test_first_error_in_file_order_and_the_readers_problem_first() -> None:
    df = frame(
        ["bad date", "24.08.1990", "x"],
        ["123", "123", "8 916 123 45 67"],
        problems=[None, None, "ragged row"],
    )
    out = normalize_batch(
        df,
        {"c1": "phone", "c0": "city"},
        "customers",
        headers={"c0": "City", "c1": "Phone"},
        region="RU",
    )
    assert out["__error_column"].to_list() == ["Phone", "Phone", ""]
    assert out["__error_reason"][2] == "ragged row"
    out = normalize_batch(
        df, {"c0": "birthday", "c1": "phone"}, "customers", headers={"c0": "Birthday"}, region="RU"
    )
    assert out["__error_column"].to_list() == ["Birthday", "c1", ""]
    assert out["__error_value"].to_list()[0] == "bad date"


def test_error_value_is_cut_to_100_characters() -> None:
    row = one("@" * 300, "email")
    assert row["__error_value"] == "@" * 100


def test_output_schema_and_order() -> None:
    out = normalize_batch(
        frame(["1"], ["2"], ["24.08.1990"], ["vip"]),
        {"c0": "external_id", "c1": "phone", "c2": "birthday", "c3": "tags"},
        "customers",
        headers={},
        region="RU",
    )
    assert out.schema == pl.Schema(
        {
            "__row": pl.Int64,
            "external_id": pl.String,
            "birthday": pl.Date,
            "birth_month": pl.Int16,
            "birth_day": pl.Int16,
            "phones": pl.List(pl.String),
            "tags": pl.List(pl.String),
            "__error_column": pl.String,
            "__error_value": pl.String,
            "__error_reason": pl.String,
        }
    )


def test_a_50000_row_batch() -> None:
    rnd = random.Random(4)
    phones, emails, dates, expected = [], [], [], []
    for i in range(50_000):
        national = f"{rnd.choice(['916', '926', '903', '985', '999'])}{rnd.randrange(10**7):07d}"
        shape = rnd.randrange(5)
        phone = [
            f"8 ({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}",
            f"+7{national}",
            f"7{national}",
            national,
            f"'+7 {national[:3]} {national[3:]}",
        ][shape]
        day = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(20_000))
        date = [day.strftime("%d.%m.%Y"), day.isoformat(), day.strftime("%d/%m/%Y")][i % 3]
        email = f" User{i}@Mail.RU "
        bad = i % 10 == 0
        if bad:
            [phone, email, date] = rnd.choice(
                [["123", email, date], [phone, f"user{i}@", date], [phone, email, "32.01.1990"]]
            )
        phones.append(phone)
        emails.append(email)
        dates.append(date)
        expected.append((bad, f"+7{national}", f"user{i}@mail.ru", day))
    out = normalize_batch(
        frame(phones, emails, dates),
        {"c0": "phone", "c1": "email", "c2": "birthday"},
        "customers",
        headers={},
        region="RU",
    )
    assert out.height == 50_000
    assert out["__row"].to_list() == list(range(2, 50_002))
    for row, (bad, phone, email, day) in zip(out.iter_rows(named=True), expected, strict=True):
        if bad:
            assert row["__error_reason"] is not None
        else:
            assert row["__error_reason"] is None
            assert (row["phones"], row["emails"], row["birthday"]) == ([phone], [email], day)


def test_a_leading_zero_group_is_not_a_thousands_group() -> None:
    row = one("0.125", "total", "orders")
    assert (row["total"], row["__error_reason"]) == (None, "too many decimal places (max 2)")


def test_month_first_is_decided_for_the_whole_column_with_or_without_times() -> None:
    out = run(["08/24/2024 10:30", "01/02/2024"], "placed_at", "orders")
    assert out["placed_at"].to_list() == [dt.datetime(2024, 8, 24, 10, 30), dt.datetime(2024, 1, 2)]


def test_no_mapped_columns_gives_the_rows_and_their_problems() -> None:
    out = normalize_batch(
        frame(["x", "y"], problems=[None, "ragged row"]), {}, "customers", headers={}, region="RU"
    )
    assert out.columns == ["__row", "__error_column", "__error_value", "__error_reason"]
    assert out["__error_reason"].to_list() == [None, "ragged row"]


def test_messages_are_in_the_callers_language() -> None:
    # Fields are normalised on worker threads; translation is per thread.
    with translation.override("ru"):
        reason = one("abc", "phone")["__error_reason"]
    assert reason == "«abc» — неверный номер телефона. Пример: +7 916 123-45-67."


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="not customers fields"):
        run(["x"], "no_such_field")


def test_two_columns_for_one_single_value_field_take_the_first_non_empty() -> None:
    out = normalize_batch(
        frame(["", "Казань", "n/a"], ["Москва", "Самара", ""]),
        {"c0": "city", "c1": "city"},
        "customers",
        headers={},
        region="RU",
    )
    assert out["city"].to_list() == ["Москва", "Казань", None]
