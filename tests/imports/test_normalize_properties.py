"""Properties of the vectorised normalisers: the fast paths agree with customers.normalize."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientbase.customers.normalize import try_normalize_email, try_normalize_phone
from clientbase.imports.normalize import emails_normal, normalize_batch, phones_e164, phones_fast

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Whole batches through normalize_batch: fewer, bigger examples.
BATCHES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGIONS = ["RU", "KZ", "MD", "RO", "UA", "BY", "US", "DE", "GB"]

prefixes = st.sampled_from(
    ["", "", "+", "8", "7", "+7", "+7 8", "00", "007", "810", "0", "+8", "+78", "+373", "+40",
     "+1", "+44", "+380", "+49", "'", "'+7", '="8', "=", "+7(", "8 ("]
)  # fmt: skip
digits = st.text(alphabet="0123456789", max_size=16)
# Real mobile and landline starts, so that valid numbers are common among the generated ones.
valid_starts = st.sampled_from(["916", "926", "903", "495", "812", "800", "701", "727", "69", "22"])
separators = st.sampled_from(["", " ", "-", "(", ")", ".", "  ", "\u00a0", "/"])


@st.composite
def phone_texts(draw: st.DrawFn) -> str:
    # Numbers of about the right length (random ones are mostly too short to be valid).
    length = draw(st.integers(4, 12))
    tail = st.text(alphabet="0123456789", min_size=length, max_size=length)
    body = draw(st.one_of(digits, st.builds(lambda a, b: a + b, valid_starts, tail)))
    pieces = [draw(prefixes)]
    for char in body:
        pieces.append(char + draw(separators) if draw(st.booleans()) else char)
    text = "".join(pieces)
    return draw(st.sampled_from(["{}", " {} ", '{}"', "\t{}"])).format(text)


@st.composite
def national_phone_texts(draw: st.DrawFn) -> str:
    """A number as people and exports write it: a prefix, then a national number of about the
    right length (off by one at times) in groups."""
    start = draw(valid_starts)
    length = 10 - len(start) + draw(st.sampled_from([0, 0, 0, -1, 1, -2]))
    number = start + draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    groups, i = [], 0
    while i < len(number):
        size = draw(st.integers(1, 4))
        groups.append(number[i : i + size])
        i += size
    separator = draw(st.sampled_from(["", " ", "-", ".", " - "]))
    return draw(prefixes) + separator.join(groups)


any_phone_text = st.one_of(
    national_phone_texts(), national_phone_texts(), phone_texts(), st.text(max_size=20), digits
)


def _excel_shaped(text: str) -> bool:
    # These two shapes are undone before the reference sees them (see the Excel test below).
    return bool(re.fullmatch(r"\d[.,]\d+[eE]\+?\d{1,2}|\d{6,}[.,]0+", text))


@PROPERTY
@given(values=st.lists(any_phone_text, min_size=1, max_size=30), region=st.sampled_from(REGIONS))
def test_phone_fast_path_decides_only_what_the_reference_agrees_with(
    values: list[str], region: str
) -> None:
    e164, decided = phones_fast(pl.Series(values, dtype=pl.String), region)
    for value, fast, sure in zip(values, e164.to_list(), decided.to_list(), strict=True):
        if sure:
            assert fast == try_normalize_phone(value, region), value


@PROPERTY
@given(values=st.lists(any_phone_text, min_size=1, max_size=30), region=st.sampled_from(REGIONS))
def test_phones_equal_the_reference(values: list[str], region: str) -> None:
    values = [v for v in values if not _excel_shaped(v.strip())]
    got = phones_e164(pl.Series(values, dtype=pl.String), region).to_list()
    assert got == [try_normalize_phone(v, region) for v in values]


@PROPERTY
@given(
    national=st.builds(
        lambda a, b: a + b, valid_starts, st.text("0123456789", min_size=7, max_size=7)
    )
)
def test_excel_mangled_phones_read_as_the_number_they_were(national: str) -> None:
    number = "7" + national if len(national) == 10 else "373" + national
    mangled = [f"{number}.0", f"{number[0]}.{number[1:]}E+{len(number) - 1}"]
    got = phones_e164(pl.Series(mangled), "RU").to_list()
    assert got == [try_normalize_phone("+" + number, "RU")] * 2


def test_the_fast_path_covers_the_common_russian_shapes() -> None:
    shapes = ["8 (916) 123-45-67", "+7(916)1234567", "79161234567", "9161234567", "'+7 916 1234567"]
    assert phones_fast(pl.Series(shapes), "RU")[1].to_list() == [True] * len(shapes)


local_parts = st.text(alphabet="abcXYZ019._+-%!#'яé ", max_size=12)
labels = st.text(alphabet="abcXY09-я", min_size=0, max_size=8)
tlds = st.sampled_from(
    ["ru", "com", "RU", "test", "local", "localhost", "onion", "arpa", "invalid", "xn--p1ai",
     "рф", "c0m", "a", "1", "museum", "ab-c"]
)  # fmt: skip


@st.composite
def email_texts(draw: st.DrawFn) -> str:
    domain = ".".join([*draw(st.lists(labels, min_size=0, max_size=3)), draw(tlds)])
    at = draw(st.sampled_from(["@", "@", "@", "", "@@", "＠"]))
    text = draw(local_parts) + at + domain
    return draw(st.sampled_from(["{}", " {} ", "<{}>", " <{}> "])).format(text)


@PROPERTY
@given(
    values=st.lists(
        st.one_of(email_texts(), st.emails(), st.text(max_size=20)), min_size=1, max_size=30
    )
)
def test_emails_equal_the_reference(values: list[str]) -> None:
    got = emails_normal(pl.Series(values, dtype=pl.String)).to_list()
    assert got == [try_normalize_email(v) for v in values]


# --- normalising the normalised output again changes nothing ----------------------------------

MAPPING = {
    "c0": "phone",
    "c1": "email",
    "c2": "birthday",
    "c3": "tags",
    "c4": "vip",
    "c5": "gender",
    "c6": "city",
    "c7": "full_name",
    "c8": "registered_at",
}
ORDER_MAPPING = {"c0": "total", "c1": "item_quantity", "c2": "placed_at", "c3": "status"}


@st.composite
def customer_rows(draw: st.DrawFn) -> list[str]:
    national = draw(valid_starts) + draw(st.text("0123456789", min_size=7, max_size=7))
    phone = draw(
        st.sampled_from([f"8 ({national[:3]}) {national[3:]}", f"+7{national}", national, "", "1"])
    )
    email = draw(st.sampled_from(["", " A@B.ru ", "x@", "Ivan.P@Mail.RU"]))
    day = draw(st.dates(dt.date(1901, 1, 1), dt.date(2020, 1, 1)))
    birthday = draw(
        st.sampled_from([day.strftime("%d.%m.%Y"), day.isoformat(), day.strftime("%d/%m/%Y"), ""])
    )
    tags = draw(st.sampled_from(["vip, опт", "a;b|a", "", " x "]))
    vip = draw(st.sampled_from(["да", "no", "", "+", "maybe"]))
    gender = draw(st.sampled_from(["Ж", "male", "", "Мужской"]))
    city = draw(st.text(alphabet="аб Мx ", max_size=8))
    name = draw(st.sampled_from(["Иванов Иван Иванович", "Ivan Ivanov", "", "Анна"]))
    moment = draw(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1)))
    registered = draw(st.sampled_from([moment.strftime("%d.%m.%Y %H:%M"), moment.isoformat(), ""]))
    return [phone, email, birthday, tags, vip, gender, city, name, registered]


def _render(value: Any) -> str:
    """A normalised value written back as text, as an export would."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _again(out: pl.DataFrame, columns: dict[str, str], kind: str) -> pl.DataFrame:
    fine = out.filter(pl.col("__error_reason").is_null())
    rendered: dict[str, list[str]] = {}
    # A birthday's month and day are derived from it: not columns of their own.
    derived = ("birth_month", "birth_day")
    names = [c for c in fine.columns if not c.startswith("__") and c not in derived]
    for i, name in enumerate(names):
        rendered[f"c{i}"] = [_render(v) for v in fine[name].to_list()]
    mapping = {f"c{i}": columns.get(name, name) for i, name in enumerate(names)}
    frame = pl.DataFrame(
        {**rendered, "__row": fine["__row"], "__problem": [None] * fine.height},
        schema_overrides={"__problem": pl.String},
    )
    again = normalize_batch(frame, mapping, kind, headers={}, region="RU")
    assert again["__error_reason"].to_list() == [None] * fine.height
    return fine, again.select(fine.columns)


@BATCHES
@given(rows=st.lists(customer_rows(), min_size=1, max_size=15))
def test_normalising_customers_twice_changes_nothing(rows: list[list[str]]) -> None:
    frame = pl.DataFrame(
        {f"c{i}": [r[i] for r in rows] for i in range(len(MAPPING))}
        | {"__row": list(range(len(rows))), "__problem": [None] * len(rows)},
        schema_overrides={"__row": pl.Int64, "__problem": pl.String},
    )
    out = normalize_batch(frame, MAPPING, "customers", headers={}, region="RU")
    back = {"phones": "phone", "emails": "email"}
    fine, again = _again(out, back, "customers")
    assert again.equals(fine)


@BATCHES
@given(
    amounts=st.lists(
        st.tuples(
            st.decimals(0, 10**9, places=2),
            st.sampled_from(["{:,.2f}", "{} ₽", "$ {}", "{}"]),
            st.decimals(0, 10**6, places=3),
            st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
            st.sampled_from(["Оплачен", "new", "Отменён", ""]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_normalising_orders_twice_changes_nothing(amounts: list[tuple[Any, ...]]) -> None:
    frame = pl.DataFrame(
        {
            "c0": [form.format(total) for total, form, *_ in amounts],
            "c1": [str(quantity).replace(".", ",") for _, _, quantity, *_ in amounts],
            "c2": [moment.strftime("%Y-%m-%dT%H:%M:%S") for *_, moment, _ in amounts],
            "c3": [status for *_, status in amounts],
            "__row": list(range(len(amounts))),
            "__problem": [None] * len(amounts),
        },
        schema_overrides={"__row": pl.Int64, "__problem": pl.String},
    )
    out = normalize_batch(frame, ORDER_MAPPING, "orders", headers={}, region="RU")
    assert out["__error_reason"].to_list() == [None] * len(amounts)
    assert out["total"].to_list() == [total for total, *_ in amounts]
    fine, again = _again(out, {}, "orders")
    assert again.equals(fine)


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_rules_exist_or_fall_back(region: str) -> None:
    # Every region gets an answer; where the fast path is off, everything is the reference's.
    got = phones_e164(pl.Series(["+7 916 123 45 67", "12"]), region).to_list()
    assert got == [try_normalize_phone(v, region) for v in ["+7 916 123 45 67", "12"]]
