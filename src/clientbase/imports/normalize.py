"""Vectorised normalisation and validation of a batch of imported rows (polars).

Each value kind of `core.file_fields` has one normaliser working on whole columns. The common
shapes (national phone numbers, plain ASCII e-mails, the usual date forms) are decided by polars
expressions; anything unusual goes, once per distinct value, to the per-value reference functions
of `customers.normalize`, so forms, the API and imports agree on every value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import email_validator
import polars as pl
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from clientbase.core import file_fields as catalogue
from clientbase.customers import normalize as reference

# Cells that mean "nothing here" in exports from spreadsheets and other systems.
PLACEHOLDERS = ("", "-", "—", "n/a", "нет данных", "null", "none")
MAX_ERROR_VALUE = 100
MAX_TAG_LENGTH = 60
# Excel stores dates as days since 1899-12-30; outside this range a number is not a date.
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 1000, 109574  # 1902-09-26 .. 2199-12-31
OLDEST_BIRTHDAY = dt.date(1900, 1, 1)
COMPANY_NAME_LENGTH = 255

ROW = "__row"
PROBLEM = "__problem"
ERROR_COLUMN = "__error_column"
ERROR_VALUE = "__error_value"
ERROR_REASON = "__error_reason"
WARNINGS = "__warnings"

_S = pl.String


@dataclass
class _Result:
    """What one field's normaliser gives: output columns and one error series per source column."""

    values: dict[str, pl.Series]
    errors: dict[str, pl.Series]  # source column -> reason (null when fine)
    # source column -> a remark on a value that was kept (null when none)
    warnings: dict[str, pl.Series] = dataclasses.field(default_factory=dict)


def normalize_batch(
    df: pl.DataFrame,
    mapping: dict[str, str],
    kind: str,
    *,
    headers: dict[str, str],
    region: str,
    lenient: bool = False,
) -> pl.DataFrame:
    """Normalise and validate the mapped columns of one batch; see the module docstring.

    Strict (order files): the first failing column of a row is its error (ERROR_COLUMN,
    ERROR_VALUE, ERROR_REASON), and the importer rejects the row. Lenient (customer files): a
    value that cannot be read is left out and reported in WARNINGS instead, so the row still
    imports; only the reader's problems and the fields in HARD_FIELDS reject it. WARNINGS also
    carries remarks on values that were kept (a guessed order of a full name's words).
    """
    fields = catalogue.fields_for(kind)
    region = region.upper()
    source_columns = [c for c in df.columns if c in mapping]  # file order
    unknown = {mapping[c] for c in source_columns} - fields.keys()
    if unknown:
        raise ValueError(f"not {kind} fields: {sorted(unknown)}")
    by_field: dict[str, list[str]] = {}
    for column in source_columns:
        by_field.setdefault(mapping[column], []).append(column)

    raw = {c: _unneutralised(df[c].cast(_S)) for c in source_columns}
    values: dict[str, pl.Series] = {}
    errors: dict[str, list[pl.Series]] = {c: [] for c in source_columns}
    remarks: dict[str, list[pl.Series]] = {c: [] for c in source_columns}
    split_names: dict[str, pl.Series] = {}

    def normalise(key: str) -> _Result:
        with translation.override(language):
            columns = by_field[key]
            return _normalize_field(
                fields[key], kind, [raw[c] for c in columns], columns, region, values
            )

    # polars runs one string operation on one core, so the fields are spread over its
    # threads (it releases the GIL). Translation is per thread: the caller's language goes along.
    # The bank account is checked against the BIC of the same row, so it comes last.
    language = translation.get_language()
    independent = [key for key in by_field if key != "bank_account"]
    with ThreadPoolExecutor(max_workers=max(1, min(pl.thread_pool_size(), 4))) as pool:
        results = dict(zip(independent, pool.map(normalise, independent), strict=True))
    for key in independent:
        values.update({n: v for n, v in results[key].values.items() if n == "bank_bic"})
    if "bank_account" in by_field:
        results["bank_account"] = normalise("bank_account")
    hard = HARD_FIELDS.get(kind, frozenset()) if lenient else None
    for key in by_field:
        field, result = fields[key], results[key]
        for column, error in result.errors.items():
            if hard is None or key in hard:
                errors[column].append(error)
            else:
                remarks[column].append(error)
        for column, remark in result.warnings.items():
            remarks[column].append(remark)
        for name, series in result.values.items():
            if field.kind == catalogue.FULL_NAME:
                split_names[name] = series
            else:
                values[name] = series
    # A name mapped on its own wins over the one split from a full name.
    for name, series in split_names.items():
        own = values.get(name)
        values[name] = series if own is None else own.fill_null(series)

    out = pl.DataFrame({ROW: df[ROW]})
    # Output columns in catalogue order; the contact lists stand where their field does.
    position = {
        "phones": "phone",
        "emails": "email",
        "birth_month": "birthday",
        "birth_day": "birthday",
        **{n: n for n in fields},
    }
    position.update(
        {n: key for key in by_field for n in split_names if fields[key].kind == catalogue.FULL_NAME}
    )
    catalogue_order = list(fields)
    names = sorted(
        values,
        key=lambda n: catalogue_order.index(position[n]) if position.get(n) in fields else 999,
    )
    out = out.with_columns([values[n].alias(n) for n in names])
    out = _with_first_error(out, df, source_columns, errors, raw, headers)
    if lenient:
        out = out.with_columns(_warnings(source_columns, remarks, raw, headers, df.height))
    return out


# Fields whose unreadable value rejects the row even in a lenient (customer) import: the
# shop's own id is the key a re-import matches by; without it the row would come back as a
# second customer.
HARD_FIELDS = {"customers": frozenset({"external_id"})}
WARNING = pl.Struct({"column": _S, "value": _S, "reason": _S})


def _warnings(
    source_columns: list[str],
    remarks: dict[str, list[pl.Series]],
    raw: dict[str, pl.Series],
    headers: dict[str, str],
    height: int,
) -> pl.Series:
    """Per row, the list of (column, value, reason) remarks in file order; null when none.

    Built from the few rows that have one (filtered first), then put back in place.
    """
    parts: list[pl.DataFrame] = []
    for i, column in enumerate(source_columns):
        for j, remark in enumerate(remarks[column]):
            where = remark.is_not_null().arg_true()
            if not where.len():
                continue  # most columns have nothing to say in a batch: they cost nothing
            parts.append(
                pl.DataFrame(
                    {
                        "position": where.cast(pl.UInt32),
                        "order": pl.Series([i * 100 + j] * where.len(), dtype=pl.Int32),
                        "column": pl.Series([headers.get(column, column)] * where.len(), dtype=_S),
                        "value": raw[column].gather(where).str.slice(0, MAX_ERROR_VALUE),
                        "reason": remark.gather(where).cast(_S),
                    }
                )
            )
    if not parts:
        return _nulls(height, pl.List(WARNING)).alias(WARNINGS)
    listed = (
        pl.concat(parts)
        .sort("position", "order")
        .group_by("position", maintain_order=True)
        .agg(pl.struct("column", "value", "reason").alias(WARNINGS))
    )
    return (
        pl.DataFrame({"position": pl.int_range(0, height, dtype=pl.UInt32, eager=True)})
        .join(listed, on="position", how="left", maintain_order="left")[WARNINGS]
        .cast(pl.List(WARNING))
    )


def _with_first_error(
    out: pl.DataFrame,
    df: pl.DataFrame,
    source_columns: list[str],
    errors: dict[str, list[pl.Series]],
    raw: dict[str, pl.Series],
    headers: dict[str, str],
) -> pl.DataFrame:
    """The reader's problem or the first failing column in file order becomes the row's error."""
    problem = df[PROBLEM].cast(_S) if PROBLEM in df.columns else _nulls(df.height, _S)
    columns: dict[str, pl.Series] = {PROBLEM: problem}
    reasons: list[pl.Expr] = [pl.col(PROBLEM)]
    where: list[pl.Expr] = [pl.when(pl.col(PROBLEM).is_not_null()).then(pl.lit(""))]
    what: list[pl.Expr] = [pl.when(pl.col(PROBLEM).is_not_null()).then(pl.lit(""))]
    for i, column in enumerate(source_columns):
        # Most columns have no error in a batch: they cost nothing here.
        found = [e for e in errors[column] if e.null_count() < len(e)]
        if not found:
            continue
        reason = found[0] if len(found) == 1 else pl.select(pl.coalesce(found)).to_series()
        columns[f"__e{i}"], columns[f"__v{i}"] = reason, raw[column]
        failed = pl.col(f"__e{i}").is_not_null()
        reasons.append(pl.col(f"__e{i}"))
        where.append(pl.when(failed).then(pl.lit(headers.get(column, column))))
        what.append(pl.when(failed).then(pl.col(f"__v{i}")))
    first = pl.DataFrame(columns).select(
        pl.coalesce(where).cast(_S).alias(ERROR_COLUMN),
        pl.coalesce(what).cast(_S).str.slice(0, MAX_ERROR_VALUE).alias(ERROR_VALUE),
        pl.coalesce(reasons).cast(_S).alias(ERROR_REASON),
    )
    return pl.concat([out, first], how="horizontal")


def _normalize_field(
    field: catalogue.TargetField,
    kind: str,
    columns: list[pl.Series],
    names: list[str],
    region: str,
    done: dict[str, pl.Series],
) -> _Result:
    key = field.key
    if field.kind == catalogue.PHONE:
        return _phones(columns, names, region, as_list=field.multiple, out=_out_name(key, "phones"))
    if field.kind == catalogue.EMAIL:
        return _emails(columns, names, as_list=field.multiple, out=_out_name(key, "emails"))
    if field.kind == catalogue.TAGS:
        return _tags(columns, names, out=key)
    if field.kind == catalogue.FULL_NAME:
        prefix = "customer_" if kind == "orders" else ""
        return _full_name(columns[0], names[0], field.max_length, prefix)
    if key == "birthday":
        return _birthdays(columns, names, field)
    # One-value fields: with several columns mapped, the first non-empty cell in file order wins.
    results = [_one_value(field, column, region, done) for column in columns]
    merged = results[0][0] if len(results) == 1 else pl.coalesce([r[0] for r in results])
    value = pl.select(merged.alias(key)).to_series() if isinstance(merged, pl.Expr) else merged
    return _Result({key: value.alias(key)}, {n: r[1] for n, r in zip(names, results, strict=True)})


def _out_name(key: str, customers_name: str) -> str:
    # Customers keep lists of phones and e-mails; an order row names one customer's contact.
    return customers_name if key in ("phone", "email") else key


def _one_value(
    field: catalogue.TargetField, column: pl.Series, region: str, done: dict[str, pl.Series]
) -> tuple[pl.Series, pl.Series]:
    kinds: dict[str, Callable[[pl.Series, catalogue.TargetField], tuple[pl.Series, pl.Series]]] = {
        catalogue.DATE: _dates,
        catalogue.DATETIME: _dates,
        catalogue.MONEY: _numbers,
        catalogue.DECIMAL: _numbers,
        catalogue.BOOL: _booleans,
        catalogue.CHOICE: _choices,
    }
    if field.kind in kinds:
        return kinds[field.kind](column, field)
    if _is_requisite(field.key):
        return _requisite(column, field, done.get("bank_bic"))
    return _text(column, field)


# --- cells ---------------------------------------------------------------------------------


def _unneutralised(column: pl.Series) -> pl.Series:
    """'=x -> =x: the apostrophe exports (ours among them) put before a cell a spreadsheet
    would run as a formula is not part of the value, so an exported file imports back
    unchanged. Only one apostrophe, and only before = + - @ tab and carriage return."""
    if not column.str.starts_with("'").any():
        return column
    return column.str.replace(r"^'([=+\-@\t\r])", "$1")


def _collapsed(column: pl.Series) -> pl.Series:
    """Trimmed, inner whitespace collapsed; placeholders and empty cells become null."""
    text = column.str.replace_all(r"\s+", " ").str.strip_chars()
    return _drop_placeholders(text)


# The usual spellings of each placeholder: one hash lookup instead of lower-casing every cell.
_PLACEHOLDER_SPELLINGS = sorted(
    {form for p in PLACEHOLDERS for form in (p, p.upper(), p.capitalize(), p.title())}
)


def _drop_placeholders(text: pl.Series) -> pl.Series:
    empty = text.is_null() | text.is_in(_PLACEHOLDER_SPELLINGS)
    return pl.select(pl.when(empty.not_()).then(text)).to_series().cast(_S)


def _nulls(length: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    # Much cheaper than a Series built from a Python list of Nones.
    return pl.Series(dtype=dtype).extend_constant(None, length)


def _error_if(condition: pl.Series, message: str) -> pl.Series:
    return pl.select(pl.when(condition.fill_null(False)).then(pl.lit(message))).to_series().cast(_S)


def _too_long(max_length: int) -> str:
    return gettext("too long (max %(max)d characters)") % {"max": max_length}


def _text(column: pl.Series, field: catalogue.TargetField) -> tuple[pl.Series, pl.Series]:
    if field.key == "notes":
        # Notes keep their line breaks; other text is one line.
        text = (
            column.str.replace_all(r"\r\n?", "\n")
            .str.replace_all(r"[^\S\n]+", " ")
            .str.replace_all(r" ?\n ?", "\n")
            .str.strip_chars()
        )
        value = _drop_placeholders(text)
    else:
        value = _collapsed(column)
    if field.key == "city":
        value = _cities(value)
    if not field.max_length:
        return value, _nulls(len(value), _S)
    error = _error_if(value.str.len_chars() > field.max_length, _too_long(field.max_length))
    # A value that does not fit is left out, never cut (a lenient import keeps the row).
    return pl.select(pl.when(error.is_null()).then(value)).to_series().cast(_S), error


def _cities(text: pl.Series) -> pl.Series:
    """The stored form of each city (customers.normalize.normalize_city), once per distinct name."""
    distinct = text.drop_nulls().unique().to_list()
    canonical = {c: reference.normalize_city(c) for c in distinct}
    return text.replace_strict(canonical, default=None, return_dtype=_S) if canonical else text


# --- names ---------------------------------------------------------------------------------

# Each word of a full name is read for what it is: a first name (the shipped dictionary), a
# patronymic (its ending), a family name (its ending) or an initial. The order with the most
# evidence wins; a tie takes the order most of the column's clear names have, and where the
# column does not say either, the usual order of the script (Russian "Фамилия Имя Отчество",
# Latin "First Last") with a warning that the order is a guess.
_PATRONYMIC = r"(?i)^\w{2,}(?:ович|евич|ич|овна|евна|ична|инична|вна)$|^(?:оглы|кызы|улы|уулу)$"
_SURNAME = (
    r"(?i)^(?:\w{2,}(?:ов|ев|ёв|ин|ын|ова|ева|ёва|ина|ына|их|ых)"
    r"|\w+(?:ский|цкий|ской|ская|цкая|енко|ук|юк|чук|швили|дзе|ян|янц|ьев|ьева)"
    r"|\w{3,}(?:ov|ev|ova|eva|in|ina|sky|skiy|skaya|enko|escu|eanu|yan))$"
)
_INITIALS = r"^\w\.(?:\s?\w\.)?$"
# A legal form before or after the name ("ООО «Ромашка»", "Ромашка, LLC") or spelt out.
_LEGAL_FORMS = (
    "ооо|оао|зао|пао|ао|нао|ип|нко|ано|тоо|чп|уп|муп|гуп|фгуп|кфх|тсж|снт|"
    "llc|ltd|inc|corp|gmbh|srl|s\\.r\\.l\\.|plc|llp"
)
_COMPANY = (
    rf"(?i)^(?:{_LEGAL_FORMS})\.?(?:\s|[«\"'“„]|$)"
    rf"|[\s,](?:{_LEGAL_FORMS}|sa|ag|bv|nv)\.?$"
    r"|^[«\"“„].+[»\"”]$"
    r"|(?:общество с ограниченной|акционерное общество|индивидуальный предприниматель"
    r"|limited liability|incorporated)"
)
# A clear majority of the column decides the names its own words leave open.
_COLUMN_MAJORITY = 0.8


@lru_cache(maxsize=1)
def first_names() -> pl.Series:
    """The shipped first-name list (lower case, ё as е)."""
    path = Path(__file__).with_name("data") / "first_names.txt"
    words = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pl.Series("first_names", [w for w in words if not w.startswith("#")], dtype=_S)


def _full_name(column: pl.Series, name: str, max_length: int, prefix: str) -> _Result:
    # Names repeat (families, test rows, "Иван Иванов"), so each distinct one is split once.
    cells = pl.DataFrame({"cell": column})
    distinct = _split_names(column.unique(), max_length, prefix)
    joined = cells.join(distinct, on="cell", how="left", maintain_order="left", nulls_equal=True)
    error = joined.get_column("__error")
    return _Result(
        {c: joined[c] for c in distinct.columns if c not in ("cell", "__error", "__guess")},
        {name: error},
        {name: joined.get_column("__guess")},
    )


def _split_names(column: pl.Series, max_length: int, prefix: str) -> pl.DataFrame:
    text = _collapsed(column)
    frame = pl.DataFrame({"text": text}).with_columns(
        before_comma=pl.col("text").str.extract(r"^([^,]+),", 1).str.strip_chars(),
        after_comma=pl.col("text").str.extract(r",(.*)$", 1).str.strip_chars(),
        company=pl.col("text").str.contains(_COMPANY).fill_null(False),
    )
    tokens = (
        pl.col("text")
        .str.replace_all(",", " ")
        .str.replace_all(r"(\w\.)\s(\w\.)", "$1$2")  # "И. И." is one word of initials
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.split(" ")
    )
    frame = frame.with_columns(tokens.alias("t"))
    n = pl.col("t").list.len()
    t0, t1, t2 = (pl.col("t").list.get(i, null_on_oob=True) for i in range(3))
    last_token = pl.col("t").list.last()
    names = first_names()

    def is_first(token: pl.Expr) -> pl.Expr:
        # "Анна-Мария": the first part decides.
        word = token.str.to_lowercase().str.replace_all("ё", "е").str.replace(r"-.*$", "")
        return word.is_in(names.implode()).fill_null(False)

    def score(token: pl.Expr, kind: str) -> pl.Expr:
        first = is_first(token)
        initials = token.str.contains(_INITIALS).fill_null(False)
        if kind == "first":
            return first.cast(pl.Int32) + initials.cast(pl.Int32)
        if kind == "middle":
            # A patronymic is the strongest sign there is.
            patronymic = token.str.contains(_PATRONYMIC).fill_null(False) & ~first
            return patronymic.cast(pl.Int32) * 2 + initials.cast(pl.Int32)
        surname = token.str.contains(_SURNAME).fill_null(False) & ~first
        return surname.cast(pl.Int32)

    latin = pl.col("text").str.contains(r"^[\x00-\x7F]*$").fill_null(False)
    frame = frame.with_columns(
        # Two words: "Last First" against "First Last".
        lf2=score(t0, "last") + score(t1, "first"),
        fl2=score(t0, "first") + score(t1, "last"),
        # Three words: "Last First Patronymic", "First Patronymic Last", "First Middle Last".
        lfp=score(t0, "last") + score(t1, "first") + score(t2, "middle"),
        fpl=score(t0, "first") + score(t1, "middle") + score(t2, "last"),
        fml=score(t0, "first") + score(t1, "first") + score(t2, "last"),
        p_last=last_token.str.contains(_PATRONYMIC).fill_null(False) & ~is_first(last_token),
    )
    # "surname first" per name: True, False, or null when its own words leave it open.
    surname_first = (
        pl.when(n == 2)
        .then(
            pl.when(pl.col("lf2") > pl.col("fl2"))
            .then(True)
            .when(pl.col("fl2") > pl.col("lf2"))
            .then(False)
        )
        .when(n == 3)
        .then(
            pl.when(pl.col("lfp") > pl.max_horizontal("fpl", "fml"))
            .then(True)
            .when(pl.max_horizontal("fpl", "fml") > pl.col("lfp"))
            .then(False)
        )
        .when(n >= 4)
        .then(pl.when(pl.col("p_last")).then(True))
    )
    frame = frame.with_columns(own=surname_first)
    clear = frame.filter(~pl.col("company") & pl.col("own").is_not_null() & (n >= 2))["own"]
    majority: bool | None = None
    if clear.len() >= 3:
        share = clear.cast(pl.Float64).sum() / clear.len()
        if share >= _COLUMN_MAJORITY:
            majority = True
        elif share <= 1 - _COLUMN_MAJORITY:
            majority = False
    frame = frame.with_columns(
        guessed=pl.col("own").is_null() & (n >= 2) & ~pl.col("company") & pl.lit(majority is None),
        order=pl.coalesce(
            pl.col("own"),
            pl.lit(majority, dtype=pl.Boolean),
            # The script's usual order: "Фамилия Имя Отчество", "First Last".
            ~latin,
        ),
    )
    # For three words, "First Middle Last" and "First Patronymic Last" differ only in what the
    # middle word is called; both keep it as the middle name.
    comma = pl.col("before_comma").is_not_null() & pl.col("after_comma").is_not_null()
    comma_rest = pl.col("after_comma").str.split(" ")
    surname_first_order = pl.col("order")
    rest_after_two = pl.col("t").list.slice(2).list.join(" ")
    middle_tokens = pl.col("t").list.slice(1, n - 2).list.join(" ")
    last = (
        pl.when(pl.col("company"))
        .then(None)
        .when(comma)
        .then(pl.col("before_comma"))
        .when(n == 1)
        .then(pl.when(score(t0, "last") > score(t0, "first")).then(t0))
        .when(surname_first_order)
        .then(t0)
        .otherwise(last_token)
    )
    first = (
        pl.when(pl.col("company"))
        .then(None)
        .when(comma)
        .then(comma_rest.list.first())
        .when(n == 1)
        .then(pl.when(score(t0, "last") <= score(t0, "first")).then(t0))
        .when(surname_first_order)
        .then(t1)
        .otherwise(t0)
    )
    middle = (
        pl.when(pl.col("company"))
        .then(None)
        .when(comma)
        .then(comma_rest.list.slice(1).list.join(" "))
        .when(n <= 2)
        .then(None)
        .when(surname_first_order)
        .then(rest_after_two)
        .otherwise(middle_tokens)
    )
    parts = frame.select(
        last.alias("last"),
        first.alias("first"),
        middle.alias("middle"),
        pl.when(pl.col("company")).then(pl.col("text")).alias("company"),
        pl.col("text"),
        pl.col("guessed"),
    ).with_columns(pl.col(c).replace("", None) for c in ("last", "first", "middle"))
    limit = 100
    too_long = (
        (parts["text"].str.len_chars() > max_length)
        | (parts["last"].str.len_chars() > limit)
        | (parts["first"].str.len_chars() > limit)
        | (parts["middle"].str.len_chars() > limit)
        | (parts["company"].str.len_chars() > COMPANY_NAME_LENGTH)
    ).fill_null(False)
    error = pl.select(
        pl.when(parts["text"].str.len_chars() > max_length)
        .then(pl.lit(_too_long(max_length)))
        .when(parts["company"].str.len_chars() > COMPANY_NAME_LENGTH)
        .then(pl.lit(_too_long(COMPANY_NAME_LENGTH)))
        .when(too_long)
        .then(pl.lit(_too_long(limit)))
    ).to_series()
    message = _formatted(
        gettext("the order of the words is a guess: last name “%(last)s”, first name “%(first)s”"),
        last=pl.col("last").fill_null(""),
        first=pl.col("first").fill_null(""),
    )
    guess = parts.select(pl.when(pl.col("guessed") & ~too_long).then(message)).to_series()
    kept = ~too_long
    result = {
        "cell": column,
        f"{prefix}last_name": parts["last"].cast(_S),
        f"{prefix}first_name": parts["first"].cast(_S),
        f"{prefix}middle_name": parts["middle"].cast(_S),
        f"{prefix}company_name": parts["company"].cast(_S),
        f"{prefix}kind": pl.select(
            pl.when(parts["company"].is_not_null()).then(pl.lit("company"))
        ).to_series(),
    }
    result = {
        key: series if key == "cell" else pl.select(pl.when(kept).then(series)).to_series()
        for key, series in result.items()
    }
    return pl.DataFrame(
        {
            **{k: v.cast(_S).alias(k) for k, v in result.items()},
            "__error": error.cast(_S),
            "__guess": guess.cast(_S),
        }
    )


# --- several values per cell and per field: phones, e-mails, tags -----------------------------

_EMPTY_LIST = pl.lit([], dtype=pl.List(_S))


def _split_cells(cells: pl.Series, separator: str) -> pl.DataFrame:
    """One row per value of the given cells: (i: position in `cells`, part)."""
    parts = (
        pl.DataFrame({"cell": cells})
        .with_row_index("i")
        .filter(pl.col("cell").is_not_null())
        .with_columns(
            pl.col("cell").str.replace_all(separator, "\x00").str.split("\x00").alias("part")
        )
        .explode("part")
    )
    return parts.with_columns(part=_drop_placeholders(parts["part"].str.strip_chars())).filter(
        pl.col("part").is_not_null()
    )


def _contacts(
    columns: list[pl.Series],
    names: list[str],
    *,
    normalise: Callable[[pl.Series], pl.Series],
    message: str,
    cut: int,
    as_list: bool,
    out: str,
) -> _Result:
    """Phones or e-mails from one or more columns, several per cell allowed ("a@x.ru; b@y.ru").

    Cells holding one value (nearly all) are normalised as a column; only cells with a
    separator are split into one row per value and gathered back.
    """
    lists: list[pl.Series] = []
    errors: dict[str, pl.Series] = {}
    for column, name in zip(columns, names, strict=True):
        cell = _drop_placeholders(column.str.strip_chars())
        has_separator = cell.str.contains(r"[,;]").fill_null(False)
        single = _on_present(cell, normalise)
        frame = pl.DataFrame({"raw": column, "cell": cell, "single": single, "sep": has_separator})
        frame = frame.with_columns(
            values=pl.when(pl.col("single").is_not_null()).then(pl.concat_list("single")),
            failed=pl.col("cell").is_not_null() & pl.col("single").is_null(),
        )
        if has_separator.any():
            many = _split_cells(cell.filter(has_separator), r"[,;]")
            many = many.with_columns(value=normalise(many["part"]))
            gathered = many.group_by("i", maintain_order=True).agg(
                many_values=pl.col("value").drop_nulls(),
                many_failed=pl.col("value").is_null().any(),
            )
            rows = pl.DataFrame({"row": has_separator.arg_true()}).with_row_index("i")
            gathered = rows.join(gathered, on="i", how="left").drop("i")
            frame = (
                frame.with_row_index("row")
                .with_columns(pl.col("row").cast(pl.UInt32))
                .join(
                    gathered.with_columns(pl.col("row").cast(pl.UInt32)),
                    on="row",
                    how="left",
                    maintain_order="left",
                )
                .with_columns(
                    values=pl.when(pl.col("sep"))
                    .then(pl.col("many_values"))
                    .otherwise(pl.col("values")),
                    failed=pl.when(pl.col("sep"))
                    .then(pl.col("many_failed").fill_null(False))
                    .otherwise(pl.col("failed")),
                )
            )
        result = frame.select(
            pl.col("values").cast(pl.List(_S)),
            pl.when(pl.col("failed"))
            .then(_with_value_message(message, pl.col("raw").str.strip_chars().str.slice(0, cut)))
            .alias("error"),
        )
        lists.append(result["values"])
        errors[name] = result["error"].cast(_S)
    combined = _merged_lists(lists)
    value = combined if as_list else combined.list.first()
    return _Result({out: value.alias(out)}, errors)


def _on_present(cells: pl.Series, normalise: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """normalise() on the non-empty cells only: second phone or e-mail columns are mostly empty."""
    present = cells.is_not_null()
    count = int(present.sum())
    if count == len(cells):
        return normalise(cells)
    result = _nulls(len(cells), _S)
    if count:
        where = present.arg_true()
        result = result.scatter(where, normalise(cells.gather(where)))
    return result


def _merged_lists(lists: list[pl.Series]) -> pl.Series:
    """Several columns' lists as one, in column order, without duplicates; empty -> null."""
    if len(lists) == 1 and not (lists[0].list.len() > 1).any():
        # One value per cell in one column (the usual case): nothing to merge or deduplicate.
        return pl.select(pl.when(lists[0].list.len() > 0).then(lists[0])).to_series()
    combined = pl.select(
        pl.concat_list([values.fill_null(_EMPTY_LIST) for values in lists]).list.unique(
            maintain_order=True
        )
    ).to_series()
    return pl.select(pl.when(combined.list.len() > 0).then(combined)).to_series()


def _with_value_message(template: str, value: pl.Expr) -> pl.Expr:
    """A translated message with "%(value)s" filled in per row."""
    return _formatted(template, value=value)


def _formatted(template: str, **values: pl.Expr) -> pl.Expr:
    """A translated message with its "%(name)s" placeholders filled in per row, in whatever
    order the translation puts them."""
    pieces: list[pl.Expr] = []
    for index, piece in enumerate(re.split(r"%\((\w+)\)s", template)):
        pieces.append(values[piece] if index % 2 else pl.lit(piece))
    return pl.concat_str(pieces)


def _phones(
    columns: list[pl.Series], names: list[str], region: str, *, as_list: bool, out: str
) -> _Result:
    return _contacts(
        columns,
        names,
        normalise=lambda values: phones_e164(values, region),
        message=gettext("“%(value)s” is not a valid phone number. Example: +7 916 123-45-67."),
        cut=40,
        as_list=as_list,
        out=out,
    )


def _emails(columns: list[pl.Series], names: list[str], *, as_list: bool, out: str) -> _Result:
    # An address cannot hold "," or ";", so a cell with several addresses splits on them.
    return _contacts(
        columns,
        names,
        normalise=emails_normal,
        message=gettext("“%(value)s” is not a valid e-mail address."),
        cut=MAX_ERROR_VALUE,
        as_list=as_list,
        out=out,
    )


def _tags(columns: list[pl.Series], names: list[str], out: str) -> _Result:
    """Tags split on , ; | and line breaks; each distinct cell (they repeat a lot) split once."""
    lists: list[pl.Series] = []
    errors: dict[str, pl.Series] = {}
    too_long = _too_long(MAX_TAG_LENGTH)
    for column, name in zip(columns, names, strict=True):
        distinct = column.unique()
        parts = _split_cells(distinct, r"[,;|\r\n]").with_columns(
            pl.col("part").str.replace_all(r"\s+", " ")
        )
        per_cell = parts.group_by("i").agg(
            # A tag too long to keep is left out; the others stay.
            tags=pl.col("part")
            .filter(pl.col("part").str.len_chars() <= MAX_TAG_LENGTH)
            .unique(maintain_order=True),
            error=pl.when((pl.col("part").str.len_chars() > MAX_TAG_LENGTH).any()).then(
                pl.lit(too_long)
            ),
        )
        lookup = (
            pl.DataFrame({"cell": distinct})
            .with_row_index("i")
            .join(per_cell, on="i", how="left")
            .drop("i")
        )
        joined = pl.DataFrame({"cell": column}).join(
            lookup, on="cell", how="left", maintain_order="left", nulls_equal=True
        )
        lists.append(joined["tags"].cast(pl.List(_S)))
        errors[name] = joined["error"].cast(_S)
    combined = _merged_lists(lists)
    return _Result({out: combined.alias(out)}, errors)


# --- phones ---------------------------------------------------------------------------------


def _pattern_matches(nsn: pl.Expr, desc: object) -> pl.Expr:
    """phonenumbers' _is_number_matching_desc as an expression."""
    pattern = getattr(desc, "national_number_pattern", None) if desc is not None else None
    if not pattern:
        return pl.lit(False)
    matches = nsn.str.contains(f"(?-u)^(?:{pattern})$")
    lengths = tuple(getattr(desc, "possible_length", None) or ())
    if lengths:
        matches = nsn.str.len_chars().is_in(list(lengths)) & matches
    return matches


def _valid_for_region(nsn: pl.Expr, metadata: PhoneMetadata) -> pl.Expr:
    """phonenumbers' _number_type_helper(...) != UNKNOWN as an expression.

    The type descriptors are merged into one regex per set of possible lengths: a dozen passes
    of big patterns over the batch would cost more than the rest of the phone work.
    """
    types = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        types.append(metadata.mobile)
    by_lengths: dict[tuple[int, ...], list[str]] = {}
    for desc in types:
        pattern = desc.national_number_pattern if desc is not None else None
        if pattern:
            by_lengths.setdefault(tuple(desc.possible_length or ()), []).append(pattern)  # type: ignore[union-attr]
    any_type = pl.lit(False)
    for lengths, patterns in by_lengths.items():
        matches = nsn.str.contains("(?-u)^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$")
        if lengths:
            matches = nsn.str.len_chars().is_in(list(lengths)) & matches
        any_type = any_type | matches
    return _pattern_matches(nsn, metadata.general_desc) & any_type


@dataclass(frozen=True)
class _PhoneRules:
    country_code: str
    national_prefix: str | None  # a plain digit prefix stripped when parsing, e.g. "8" in RU
    idd: str  # the region's international call prefix, as a regex
    general: str
    general_lengths: tuple[int, ...]
    regions: tuple[str, ...]


@lru_cache(maxsize=32)
def _phone_rules(region: str) -> _PhoneRules | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.national_prefix_transform_rule or metadata.country_code is None:
        return None
    general = metadata.general_desc
    if general is None or not general.national_number_pattern:
        return None
    npp = metadata.national_prefix_for_parsing
    # Prefixes with alternatives or carrier codes need the reference parser.
    if npp is not None and not re.fullmatch(r"\d+", npp):
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ())
    return _PhoneRules(
        country_code=str(metadata.country_code),
        national_prefix=npp,
        idd=metadata.international_prefix or "00",
        general=general.national_number_pattern,
        general_lengths=tuple(general.possible_length or ()),
        regions=tuple(regions),
    )


def _number_valid(nsn: pl.Expr, rules: _PhoneRules) -> pl.Expr:
    """phonenumbers.is_valid_number for a national number of the rules' country code.

    With several regions on one code (+7: RU and KZ), the region whose leading digits match
    decides alone, as in phonenumbers' region_code_for_number.
    """
    regions = [PhoneMetadata.metadata_for_region(code) for code in rules.regions]
    if len(regions) == 1 and regions[0] is not None:
        return _valid_for_region(nsn, regions[0])
    chain: pl.Expr | None = None
    for metadata in regions:
        if metadata is None:
            continue
        valid = _valid_for_region(nsn, metadata)
        if metadata.leading_digits is not None:
            condition = nsn.str.contains(f"(?-u)^(?:{metadata.leading_digits})")
            outcome = valid
        else:
            condition, outcome = valid, pl.lit(True)
        chain = (
            pl.when(condition).then(outcome)
            if chain is None
            else chain.when(condition).then(outcome)  # type: ignore[attr-defined]
        )
    if chain is None:
        return pl.lit(False)
    return chain.otherwise(pl.lit(False))  # type: ignore[attr-defined]


_PHONE_SHAPE = r"^[ \t\u00a0'=\"]*\+?[0-9 \t\u00a0()\-./\"]*$"
_EXCEL_EXPONENT = r"(?-u)^(\d)[.,](\d+)[eE]\+?(\d{1,2})$"


def _expand_excel_numbers(text: pl.Series) -> pl.Series:
    """Undo Excel's number formatting of phones: "79161234567.0", "7.9161234567E+10".

    An exponent form whose digits were cut by Excel stays as it is (and fails), since the
    lost digits cannot be guessed.
    """
    with_zero = text.str.contains(r"(?-u)^\d{6,}[.,]0+$").fill_null(False)
    exponent_form = text.str.contains(_EXCEL_EXPONENT).fill_null(False)
    # Both shapes are rare: the common case costs two scans, the rest works on those cells only.
    if with_zero.any():
        where = with_zero.arg_true()
        text = text.scatter(where, text.gather(where).str.replace(r"[.,]0+$", ""))
    if exponent_form.any():
        where = exponent_form.arg_true()
        parts = text.gather(where).str.extract_groups(_EXCEL_EXPONENT).struct.unnest()
        head, tail, exponent = parts["1"], parts["2"], parts["3"]
        expanded = pl.select(
            pl.when(tail.str.len_chars() == exponent.cast(pl.Int32, strict=False))
            .then(pl.concat_str([head, tail]))
            .otherwise(text.gather(where))
        ).to_series()
        text = text.scatter(where, expanded)
    return text


# Characters a phone cell of a common shape may hold besides digits and a leading "+".
_PHONE_JUNK_CHARS = [" ", "\t", "\u00a0", "'", "=", '"', "(", ")", "-", ".", "/"]


def phones_fast(raw: pl.Series, region: str) -> tuple[pl.Series, pl.Series]:
    """The polars fast path: (E.164 or null, decided) per value.

    Where `decided` is true the E.164 (or null for an invalid number) equals
    customers.normalize.try_normalize_phone(raw, region); otherwise the caller asks it.
    """
    rules = _phone_rules(region)
    if rules is None:
        return _nulls(len(raw), _S), pl.repeat(False, len(raw), eager=True)
    cc, npp = rules.country_code, rules.national_prefix
    # Digits only from here on, so ASCII regexes (faster) mean the same as Unicode ones.
    general = f"(?-u)^(?:{rules.general})$"
    text = pl.col("raw").str.strip_chars()
    # For cells of the common shape, dropping these characters is the reference's [^\d+] cleanup.
    digits = pl.col("text").str.replace_many(dict.fromkeys(_PHONE_JUNK_CHARS, ""))
    d = pl.col("d")
    no = pl.lit(False)
    plus = d.str.starts_with("+")
    starts_npp = d.str.starts_with(npp) if npp else no
    starts_cc = d.str.starts_with(cc)
    viable = pl.col("viable")
    length = d.str.len_bytes()

    # Each branch mirrors a route of phonenumbers.parse and says where the national number
    # starts; shapes it cannot be sure of stay undecided (null). One slice at the end instead of
    # one per branch, and "the rest matches" as one anchored regex instead of slicing first.
    start = (
        pl.when(d.str.starts_with("+" + cc) & ~(d.str.starts_with("+" + cc + npp) if npp else no))
        .then(pl.lit(1 + len(cc)))
        .when(plus)
        .then(None)
        .when(d.str.contains(f"(?-u)^(?:{rules.idd})"))
        .then(None)
        .when(
            starts_cc
            & ~viable
            & d.str.contains(f"(?-u)^{cc}(?:{rules.general})$")
            & ~(d.str.starts_with(cc + npp) if npp else no)
        )
        .then(pl.lit(len(cc)))
        .when(starts_cc)
        .then(None)
        .when(starts_npp & ~viable & (length - len(npp or "")).is_in(list(rules.general_lengths)))
        .then(pl.lit(len(npp or "")))
        .when(starts_npp & viable & ~d.str.contains(f"(?-u)^{npp}(?:{rules.general})$"))
        .then(pl.lit(0))
        .when(starts_npp)
        .then(None)
        .otherwise(pl.lit(0))
    )
    nsn = d.str.slice(start)
    shape = pl.col("text").str.contains(_PHONE_SHAPE) & (pl.col("text").str.len_chars() <= 40)
    result = (
        pl.LazyFrame({"raw": raw})
        .with_columns(text=text)
        .with_columns(shape=shape, d=digits)
        .with_columns(
            d=pl.when(d.str.starts_with("00"))
            .then(pl.concat_str([pl.lit("+"), d.str.slice(2)]))
            .otherwise(d)
        )
        .with_columns(viable=d.str.contains(general), plain=d.str.contains(r"(?-u)^\+?[0-9]+$"))
        .with_columns(nsn=pl.when(pl.col("shape") & pl.col("plain")).then(nsn))
        .select(
            pl.when(_number_valid(pl.col("nsn"), rules))
            .then(pl.concat_str([pl.lit("+" + cc), pl.col("nsn")]))
            .alias("e164"),
            (
                pl.col("nsn").is_not_null()
                # Without a digit (ASCII or other) a cell can never be a number.
                | ~pl.col("text").str.contains(r"\p{Nd}")
                | (pl.col("text").str.len_chars() > 40)
            )
            .fill_null(True)
            .alias("decided"),
        )
        .collect()
    )
    return result["e164"], result["decided"]


def phones_e164(raw: pl.Series, region: str) -> pl.Series:
    """E.164 or null per value: the fast path, then the reference for the rest, once per value."""
    text = _expand_excel_numbers(raw)
    e164, decided = phones_fast(text, region)
    frame = pl.DataFrame({"text": text, "e164": e164, "decided": decided})
    rest = frame.filter(~pl.col("decided"))["text"].unique()
    if rest.len():
        looked_up = pl.DataFrame(
            {"text": rest, "ref": [reference.try_normalize_phone(v, region) for v in rest]},
            schema={"text": _S, "ref": _S},
        )
        frame = frame.join(looked_up, on="text", how="left", maintain_order="left")
        return frame.select(
            pl.when(pl.col("decided")).then(pl.col("e164")).otherwise(pl.col("ref"))
        ).to_series()
    return frame["e164"]


# --- e-mails --------------------------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_FAST = r"(?i)^[a-z0-9_%+-]{1,64}(?:\.[a-z0-9_%+-]+)*@(?:" + _LABEL + r"\.)+[a-z]{2,63}$"


def emails_fast(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The polars fast path: (normal form or null, decided), equal to try_normalize_email."""
    special = "|".join(re.escape(d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    text = pl.col("text")
    plain = (
        text.str.contains(_EMAIL_FAST)
        & (text.str.find("@", literal=True) <= 64)  # the local part, in ASCII bytes
        & (text.str.len_bytes() <= 254)
        # "xn--" and other R-LDH labels need the IDNA checks of the reference.
        & ~text.str.contains("@[^@]*--")
        & ~text.str.contains(rf"(?i)[@.](?:{special})$")
    )
    out = (
        pl.LazyFrame({"raw": raw})
        .with_columns(text=pl.col("raw").str.strip_chars().str.strip_chars("<>").str.strip_chars())
        .select(
            pl.when(plain).then(text.str.to_lowercase()).alias("normal"),
            # No "@" at all (and no look-alike at-sign): email_validator refuses it too.
            (plain | ~pl.col("raw").str.contains(r"[@＠﹫]")).fill_null(True).alias("decided"),
        )
        .collect()
    )
    return out["normal"], out["decided"]


def emails_normal(raw: pl.Series) -> pl.Series:
    normal, decided = emails_fast(raw)
    frame = pl.DataFrame({"raw": raw, "normal": normal, "decided": decided})
    rest = frame.filter(~pl.col("decided"))["raw"].unique()
    if not rest.len():
        return frame["normal"]
    looked_up = pl.DataFrame(
        {"raw": rest, "ref": [reference.try_normalize_email(v) for v in rest]},
        schema={"raw": _S, "ref": _S},
    )
    frame = frame.join(looked_up, on="raw", how="left", maintain_order="left")
    return frame.select(
        pl.when(pl.col("decided")).then(pl.col("normal")).otherwise(pl.col("ref"))
    ).to_series()


# --- dates ----------------------------------------------------------------------------------

_MONTHS = {
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8,
    "сен": 9, "окт": 10, "ноя": 11, "дек": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
    "ian": 1, "mai": 5, "iun": 6, "iul": 7, "noi": 11,
}  # fmt: skip
_TIME = r"(?:[ ,t]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?)?"
_OFFSET = r"(?P<Z>z|[+-]\d{2}(?::?\d{2})?)?"
_DATE_FORMS = {
    # 24.08.1990, 24-08-1990, 24.08.90 (day first, as in Russia and Romania)
    "dmy": r"^(?P<d>\d{1,2})[.\-](?P<m>\d{1,2})[.\-](?P<y>\d{4}|\d{2})(?:\s*г\.?)?" + _TIME + "$",
    # 1990-08-24, 1990-08-24 10:00, 1990-08-24T10:00:00.000Z, 1990/08/24
    "iso": r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME + _OFFSET + "$",
    # 24/08/1990 or 08/24/1990: which one is decided per column
    "slash": r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})" + _TIME + "$",
    # 24 августа 1990, 24 aug. 1990
    "words": r"^(?P<d>\d{1,2})\s*(?P<w>[^\W\d_]{3,})\.?,?\s*(?P<y>\d{4})(?:\s*г\.?)?" + _TIME + "$",
    # Aug 24, 1990
    "us_words": r"^(?P<w>[a-z]{3,})\.?\s*(?P<d>\d{1,2}),?\s*(?P<y>\d{4})" + _TIME + "$",
    # 19900824
    "compact": r"^(?P<y>(?:19|20|21)\d{2})(?P<m>\d{2})(?P<d>\d{2})$",
    "serial": r"^(?P<n>\d{1,6})(?:[.,](?P<f>\d+))?$",
}
# "08/24" or "24.08": a day without a year cannot be stored as a date.
_NO_YEAR = r"^\d{1,2}[./]\d{1,2}$"


def _two_digit_year(year: pl.Expr) -> pl.Expr:
    # "24.08.90" is 1990 and "01.02.15" is 2015: a two-digit year up to this one is this century.
    this_year = timezone.localdate().year % 100
    y = year.cast(pl.Int32, strict=False)
    return (
        pl.when(year.str.len_chars() == 2)
        .then(pl.when(y <= this_year).then(y + 2000).otherwise(y + 1900))
        .otherwise(y)
    )


# The forms most files use, read by polars' own parser; the regexes below handle the rest.
_COMMON_DATE_FORMS = (
    (r"(?-u)^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y"),
    (r"(?-u)^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d"),
    (r"(?-u)^\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}:\d{2}$", "%d.%m.%Y %H:%M"),
    (r"(?-u)^\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}:\d{2}:\d{2}$", "%d.%m.%Y %H:%M:%S"),
    (r"(?-u)^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}$", "%Y-%m-%d %H:%M"),
    (r"(?-u)^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}$", "%Y-%m-%d %H:%M:%S"),
)
_SLASH_DATE = r"(?-u)^\d{1,2}/\d{1,2}/\d{4}$"


def _month_first(text: pl.Series) -> bool:
    """Slash dates are day-first unless the column only makes sense month-first.

    That is, some "day" over 12 stands in the second place and none in the first.
    """
    day_second = text.str.contains(r"(?-u)^\d{1,2}/(?:1[3-9]|2\d|3[01])/").any()
    day_first = text.str.contains(r"(?-u)^(?:1[3-9]|2\d|3[01])/\d{1,2}/").any()
    return bool(day_second and not day_first)


def _dates(column: pl.Series, field: catalogue.TargetField) -> tuple[pl.Series, pl.Series]:
    # Only trimmed here: the usual forms have no inner spaces or letters to fold, and the
    # regexes below see the rest collapsed and lower-cased.
    text = _drop_placeholders(column.str.strip_chars())
    month_first = _month_first(text)
    # The usual forms go to polars' own parser; the shapes make sure it reads no more than them
    # (it would take "90" for the year 90).
    forms = (*_COMMON_DATE_FORMS, (_SLASH_DATE, "%m/%d/%Y" if month_first else "%d/%m/%Y"))
    value = _nulls(len(text), pl.Datetime("us"))
    for shape, form in forms:
        # Each form parses only its own cells: a cheap scan, then the parser on the few that fit.
        where = text.str.contains(shape).fill_null(False).arg_true()
        if where.len():
            parsed = text.gather(where).str.to_datetime(form, strict=False, time_unit="us")
            value = value.scatter(where, parsed)
    error = _nulls(len(text), _S)
    rest = (text.is_not_null() & value.is_null()).arg_true()
    if rest.len():
        # Dates repeat (a birthday column holds some 40,000 distinct days at most), so each
        # distinct uncommon cell goes through the regexes once.
        cells = text.gather(rest).str.replace_all(r"\s+", " ").str.to_lowercase()
        distinct = cells.unique()
        parsed_value, parsed_error = _parse_dates(distinct, month_first)
        lookup = pl.DataFrame({"t": distinct, "v": parsed_value, "e": parsed_error})
        found = pl.DataFrame({"t": cells}).join(lookup, on="t", how="left", maintain_order="left")
        value = value.scatter(rest, found["v"])
        error = error.scatter(rest, found["e"])
    return _checked_dates(value, error, field)


# A birthday without a year ("08/24" from Mailchimp, "24.08", "24 августа", "Aug 24",
# vCard's "--08-24"): the day and month are kept, the year stays empty.
_DAY_MONTH = {
    "numbers": r"^(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})\.?$",
    "words": r"^(?P<d>\d{1,2})\s*(?P<w>[^\W\d_]{3,})\.?$",
    "us_words": r"^(?P<w>[a-z]{3,})\.?\s*(?P<d>\d{1,2})(?:st|nd|rd|th)?$",
    "vcard": r"^--(?P<m>\d{2})-?(?P<d>\d{2})$",
}
# Days in each month of a leap year: 29 February is a birthday too.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _birthdays(columns: list[pl.Series], names: list[str], field: catalogue.TargetField) -> _Result:
    """Birthdays as dates, with their month and day apart; a day without a year keeps those."""
    dates, months, days = [], [], []
    errors: dict[str, pl.Series] = {}
    for column, name in zip(columns, names, strict=True):
        value, error = _dates(column, field)
        month = value.dt.month().cast(pl.Int16)
        day = value.dt.day().cast(pl.Int16)
        text = _drop_placeholders(column.str.strip_chars())
        rest = (value.is_null() & text.is_not_null()).arg_true()
        if rest.len():
            cells = text.gather(rest).str.replace_all(r"\s+", " ").str.to_lowercase()
            found_month, found_day = _day_and_month(cells)
            month = month.scatter(rest, found_month)
            day = day.scatter(rest, found_day)
            # "30.02" has the shape of a day without a year but is no day at all.
            no_year = gettext("no year")
            was = error.gather(rest)
            kept = pl.select(
                pl.when(found_month.is_not_null())
                .then(None)
                .when(was == no_year)
                .then(pl.lit(gettext("not a date")))
                .otherwise(was)
            ).to_series()
            error = error.scatter(rest, kept.cast(_S))
        dates.append(value)
        months.append(month)
        days.append(day)
        errors[name] = error
    birthday = dates[0] if len(dates) == 1 else pl.select(pl.coalesce(dates)).to_series()
    if len(columns) == 1:
        month, day = months[0], days[0]
    else:
        # From the date where there is one, so the three always agree.
        month = pl.select(
            pl.when(birthday.is_not_null())
            .then(birthday.dt.month().cast(pl.Int16))
            .otherwise(pl.coalesce(months))
        ).to_series()
        day = pl.select(
            pl.when(birthday.is_not_null())
            .then(birthday.dt.day().cast(pl.Int16))
            .otherwise(pl.coalesce(days))
        ).to_series()
    return _Result(
        {
            "birthday": birthday.alias("birthday"),
            "birth_month": month.alias("birth_month"),
            "birth_day": day.alias("birth_day"),
        },
        errors,
    )


def _day_and_month(cells: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(month, day) of cells that name a day of the year without a year; nulls elsewhere.

    "08/24" is month first (Mailchimp, American forms) unless some cell of the column has a
    first number over 12; "24.08" is day first, as Russians write it.
    """
    frame = pl.DataFrame({"text": cells})
    for name, pattern in _DAY_MONTH.items():
        frame = frame.with_columns(pl.col("text").str.extract_groups(pattern).alias(name))
    numbers = pl.col("numbers").struct
    first = numbers.field("a").cast(pl.Int32, strict=False)
    second = numbers.field("b").cast(pl.Int32, strict=False)
    day_first_seen = frame.select(
        ((numbers.field("sep") == "/") & first.is_between(13, 31) & (second <= 12)).any()
    ).item()
    slash = numbers.field("sep") == "/"
    month_first = slash & pl.lit(not day_first_seen)
    month_names = pl.DataFrame({"key": list(_MONTHS), "month": list(_MONTHS.values())})

    def month_of(form: str) -> pl.Expr:
        return (
            pl.col(form)
            .struct.field("w")
            .str.slice(0, 3)
            .replace_strict(month_names["key"], month_names["month"], default=None)
        )

    month = pl.coalesce(
        pl.when(month_first).then(numbers.field("a")).otherwise(numbers.field("b")),
        month_of("words").cast(_S),
        month_of("us_words").cast(_S),
        pl.col("vcard").struct.field("m"),
    ).cast(pl.Int16, strict=False)
    day = pl.coalesce(
        pl.when(month_first).then(numbers.field("b")).otherwise(numbers.field("a")),
        pl.col("words").struct.field("d"),
        pl.col("us_words").struct.field("d"),
        pl.col("vcard").struct.field("d"),
    ).cast(pl.Int16, strict=False)
    limit = month.replace_strict(
        list(range(1, 13)), list(_MONTH_DAYS), default=0, return_dtype=pl.Int16
    )
    valid = month.is_between(1, 12) & day.is_between(1, limit)
    result = frame.select(
        pl.when(valid).then(month).alias("month"), pl.when(valid).then(day).alias("day")
    )
    return result["month"], result["day"]


def _checked_dates(
    value: pl.Series, error: pl.Series, field: catalogue.TargetField
) -> tuple[pl.Series, pl.Series]:
    error = pl.select(
        pl.when(error.is_not_null())
        .then(error)
        # Birthdays get their own, clearer messages below.
        .when(
            pl.lit(field.key != "birthday") & ((value.dt.year() < 1900) | (value.dt.year() > 2199))
        )
        .then(pl.lit(gettext("not a date")))
    ).to_series()
    if field.kind == catalogue.DATE:
        value = value.dt.date()
        if field.key == "birthday":
            # The shop's today, not the server's: near midnight they differ.
            today = timezone.localdate()
            error = pl.select(
                pl.when(error.is_not_null())
                .then(error)
                .when(value > today)
                .then(pl.lit(gettext("a birthday cannot be in the future")))
                .when(value < OLDEST_BIRTHDAY)
                .then(pl.lit(gettext("a birthday cannot be before 1900")))
            ).to_series()
    value = pl.select(pl.when(error.is_null()).then(value)).to_series()
    return value.cast(pl.Date if field.kind == catalogue.DATE else pl.Datetime("us")), error.cast(
        _S
    )


def _parse_dates(text: pl.Series, month_first: bool) -> tuple[pl.Series, pl.Series]:
    frame = pl.DataFrame({"text": text})
    present: set[str] = set()
    for name, pattern in _DATE_FORMS.items():
        # A form absent from the batch costs one cheap scan instead of a capturing one.
        if text.str.contains(pattern).any():
            present.add(name)
            frame = frame.with_columns(pl.col("text").str.extract_groups(pattern).alias(name))

    def group(form: str, name: str) -> pl.Expr:
        if form not in present:
            return pl.lit(None, _S)
        return pl.col(form).struct.field(name)

    slash_d, slash_m = (
        (group("slash", "b"), group("slash", "a"))
        if month_first
        else (group("slash", "a"), group("slash", "b"))
    )

    month_names = pl.DataFrame({"key": list(_MONTHS), "month": list(_MONTHS.values())})

    def month_of(form: str) -> pl.Expr:
        return (
            group(form, "w")
            .str.slice(0, 3)
            .replace_strict(month_names["key"], month_names["month"].cast(_S), default=None)
        )

    forms = ("dmy", "iso", "slash", "words", "us_words", "compact")
    y = pl.coalesce([_two_digit_year(group(f, "y")) for f in forms])
    m = pl.coalesce(
        [
            group("dmy", "m"),
            group("iso", "m"),
            slash_m,
            month_of("words"),
            month_of("us_words"),
            group("compact", "m"),
        ]
    ).cast(pl.Int32, strict=False)
    d = pl.coalesce(
        [
            group("dmy", "d"),
            group("iso", "d"),
            slash_d,
            group("words", "d"),
            group("us_words", "d"),
            group("compact", "d"),
        ]
    ).cast(pl.Int32, strict=False)

    def time_part(name: str) -> pl.Expr:
        return (
            pl.coalesce([group(f, name) for f in ("dmy", "iso", "slash", "words", "us_words")])
            .cast(pl.Int32, strict=False)
            .fill_null(0)
        )

    fraction = pl.coalesce([group(f, "F") for f in ("dmy", "iso", "slash", "words", "us_words")])
    micros = fraction.str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    stamp = pl.format(
        "{}-{}-{} {}:{}:{}",
        y.cast(_S).str.pad_start(4, "0"),
        m.cast(_S).str.pad_start(2, "0"),
        d.cast(_S).str.pad_start(2, "0"),
        time_part("H").cast(_S).str.pad_start(2, "0"),
        time_part("M").cast(_S).str.pad_start(2, "0"),
        time_part("S").cast(_S).str.pad_start(2, "0"),
    ).str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us") + pl.duration(
        microseconds=micros
    )

    offset = group("iso", "Z")
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    offset_minutes = (
        pl.when(offset == "z")
        .then(0)
        .otherwise(
            sign
            * (
                digits.str.slice(0, 2).cast(pl.Int32, strict=False) * 60
                + digits.str.slice(2, 2).cast(pl.Int32, strict=False).fill_null(0)
            )
        )
    )
    tz = str(settings.TIME_ZONE)
    # A moment with an offset is shown in the shop's own time, as all naive moments are.
    local = (
        (pl.col("stamp") - pl.duration(minutes=pl.col("offset_minutes")))
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(tz)
        .dt.replace_time_zone(None)
    )
    serial_days = pl.concat_str(
        [group("serial", "n"), pl.lit("."), group("serial", "f").fill_null("0")]
    ).cast(pl.Float64, strict=False)
    serial_ok = serial_days.is_between(EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX)
    from_serial = pl.lit(EXCEL_EPOCH) + pl.duration(
        microseconds=(serial_days * 86_400_000_000).round(0).cast(pl.Int64)
    )

    frame = frame.with_columns(stamp=stamp, offset_minutes=offset_minutes)
    result = frame.select(
        pl.col("text"),
        pl.when(pl.col("offset_minutes").is_not_null())
        .then(local)
        .when(group("serial", "n").is_not_null())
        .then(pl.when(serial_ok).then(from_serial))
        .otherwise(pl.col("stamp"))
        .alias("value"),
        pl.col("text").str.contains(_NO_YEAR).alias("no_year"),
    )
    value = result["value"]
    bad = result["text"].is_not_null() & value.is_null()
    error = pl.select(
        pl.when(result["no_year"].fill_null(False))
        .then(pl.lit(gettext("no year")))
        .when(bad)
        .then(pl.lit(gettext("not a date")))
    ).to_series()
    return value.cast(pl.Datetime("us")), error.cast(_S)


# --- money and quantities -------------------------------------------------------------------

_CURRENCY = (
    r"(?:[₽$€£¥₴₸]|руб(?:лей|ля|ль)?\.?|р\.?|rub|rur|usd|eur|lei|mdl|ron|грн\.?|тг|uah|kzt|byn)"
)
_AMOUNT = rf"^(?P<s1>[-+]?){_CURRENCY}?(?P<s2>[-+]?)(?P<n>\d[\d.,]*){_CURRENCY}?$"


_FLOAT_NOISE_DECIMALS = 10


def _numbers(column: pl.Series, field: catalogue.TargetField) -> tuple[pl.Series, pl.Series]:
    """Money ("1 234,50 ₽", "$1,234.50", "1.234,50 €") and quantities ("1,5").

    With one kind of separator used once and three digits after it, money reads it as a
    thousands separator ("1,234" is 1234: prices are not given in thousandths); a quantity
    reads it as the decimal point ("1,250" kg).
    """
    money = field.kind == catalogue.MONEY
    scale, precision = (2, 14) if money else (3, 12)
    text = _collapsed(column)
    compact = text.str.to_lowercase().str.replace_all(r"[\s\u00a0\u202f'’]", "")
    frame = pl.DataFrame({"text": text, "c": compact}).with_columns(
        m=pl.col("c").str.extract_groups(_AMOUNT)
    )
    number = pl.col("m").struct.field("n")
    negative = (pl.col("m").struct.field("s1") == "-") | (pl.col("m").struct.field("s2") == "-")
    dots, commas = number.str.count_matches(r"\."), number.str.count_matches(",")
    last_separator = number.str.extract(r"([.,])\d*$", 1)
    single = (dots + commas) == 1
    three_after = number.str.contains(r"^[1-9]\d{0,2}[.,]\d{3}$")
    grouped = number.str.contains(r"^\d{1,3}(?:([.,])\d{3})(?:[.,]\d{3})*$") & (
        (dots == 0) | (commas == 0)
    )
    plain = (
        pl.when((dots + commas) == 0)
        .then(number)
        .when(single & three_after & pl.lit(money))
        .then(number.str.replace(r"[.,]", ""))
        .when(single)
        .then(number.str.replace(",", "."))
        .when(grouped)
        .then(number.str.replace_all(r"[.,]", ""))
        .when((dots > 0) & (commas > 0) & (last_separator == ","))
        .then(number.str.replace_all(r"\.", "").str.replace(",", "."))
        .when((dots > 0) & (commas > 0))
        .then(number.str.replace_all(",", ""))
    )
    frame = frame.with_columns(plain=plain, negative=negative.fill_null(False))
    frame = frame.with_columns(
        ok=pl.col("plain").str.contains(r"^\d+(?:\.\d+)?$"),
        int_digits=pl.col("plain").str.extract(r"^0*(\d*)", 1).str.len_chars(),
        frac_digits=pl.col("plain").str.extract(r"\.(\d+)$", 1).str.len_chars().fill_null(0),
    )
    not_number = gettext("not an amount") if money else gettext("not a number")
    result = frame.select(
        pl.when(pl.col("text").is_null())
        .then(None)
        .when(~pl.col("ok").fill_null(False))
        .then(pl.lit(not_number))
        .when(pl.col("negative"))
        .then(pl.lit(gettext("must not be negative")))
        # Ten or more decimals are a spreadsheet's binary float ("19.989999999999998"), rounded
        # below; a few too many were typed by someone and are not guessed at.
        .when((pl.col("frac_digits") > scale) & (pl.col("frac_digits") < _FLOAT_NOISE_DECIMALS))
        .then(pl.lit(gettext("too many decimal places (max %(max)d)") % {"max": scale}))
        .when(pl.col("int_digits") > precision - scale)
        .then(pl.lit(gettext("too large")))
        .alias("error"),
        pl.when(pl.col("frac_digits") >= _FLOAT_NOISE_DECIMALS)
        .then(pl.col("plain").cast(pl.Float64, strict=False).round(scale).cast(_S))
        .otherwise(pl.col("plain"))
        .alias("plain"),
    )
    error = result["error"].cast(_S)
    valid = pl.select(pl.when(error.is_null()).then(result["plain"])).to_series()
    return valid.cast(pl.Decimal(precision, scale), strict=False), error


# --- yes/no and choices ---------------------------------------------------------------------

_BOOLEANS: dict[str, bool] = {
    **dict.fromkeys(
        ("yes", "y", "true", "t", "1", "+", "да", "д", "ага", "подписан", "подписана", "согласен",
         "согласна", "subscribed", "opt-in", "optin", "da", "on", "x", "✓", "✔"),
        True,
    ),
    **dict.fromkeys(
        ("no", "n", "false", "f", "0", "-", "нет", "н", "не подписан", "не подписана", "отписан",
         "отписана", "отписался", "отписалась", "не согласен", "не согласна", "unsubscribed",
         "opt-out", "optout", "nu", "off", "—"),
        False,
    ),
}  # fmt: skip


def _folded(column: pl.Series) -> pl.Series:
    """The form choices and yes/no are compared in: trimmed, single-spaced, lower case, ё -> е."""
    return (
        column.str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace_all("ё", "е")
    )


def _booleans(column: pl.Series, field: catalogue.TargetField) -> tuple[pl.Series, pl.Series]:
    key = _folded(column)
    # "-" and "—" are "no" in a yes/no column, not placeholders.
    empty = key.is_null() | key.is_in([p for p in PLACEHOLDERS if p not in _BOOLEANS])
    value = key.replace_strict(
        list(_BOOLEANS), list(_BOOLEANS.values()), default=None, return_dtype=pl.Boolean
    )
    error = _error_if(~empty & value.is_null(), gettext("expected yes or no"))
    return value, error


def _choice_keys(key: str) -> dict[str, str]:
    folded: dict[str, str] = {}
    for stored, synonyms in catalogue.CHOICE_SYNONYMS.get(key, {}).items():
        for word in (stored, *synonyms):
            folded[" ".join(word.lower().replace("ё", "е").split())] = stored
    # The labels exports write by default (Russian and English): export-then-import is the
    # identity whether the file holds codes or words.
    for label, stored in catalogue.choice_label_codes(key).items():
        folded[" ".join(label.lower().replace("ё", "е").split())] = stored
    return folded


def _choices(column: pl.Series, field: catalogue.TargetField) -> tuple[pl.Series, pl.Series]:
    known = _choice_keys(field.key)
    key = _folded(column)
    key = _drop_placeholders(key)
    value = key.replace_strict(list(known), list(known.values()), default=None, return_dtype=_S)
    expected = ", ".join(catalogue.CHOICE_SYNONYMS.get(field.key, {}))
    message = gettext("unknown value; expected one of %(values)s") % {"values": expected}
    return value, _error_if(key.is_not_null() & value.is_null(), message)


# --- company requisites ---------------------------------------------------------------------

_REQUISITES: dict[str, Callable[[str], str]] = {
    "inn": reference.validate_inn,
    "kpp": reference.validate_kpp,
    "ogrn": reference.validate_ogrn,
    "bank_bic": reference.validate_bic,
}


def _first_message(error: ValidationError) -> str:
    return str(error.messages[0])


def _requisite(
    column: pl.Series, field: catalogue.TargetField, bic: pl.Series | None
) -> tuple[pl.Series, pl.Series]:
    """INN, KPP, OGRN, BIC and account, checked by the reference validators once per value.

    These columns are rare and mostly empty, so a Python call per distinct value is cheap.
    """
    text = _collapsed(column)
    bics = bic if bic is not None else _nulls(len(text), _S)
    frame = pl.DataFrame({"text": text, "bic": bics.cast(_S)})
    distinct = frame.filter(pl.col("text").is_not_null()).unique(maintain_order=True)
    checked_values: list[str | None] = []
    messages: list[str | None] = []
    for value, row_bic in distinct.iter_rows():
        try:
            if field.key == "bank_account":
                if row_bic:
                    checked = reference.validate_bank_account(value, row_bic)
                elif re.fullmatch(r"[0-9]{20}", value):
                    checked = value
                else:
                    raise ValidationError(gettext("A bank account number has 20 digits."))
            else:
                checked = _REQUISITES[field.key](value)
        except ValidationError as error:
            checked_values.append(None)
            messages.append(_first_message(error))
        else:
            checked_values.append(checked)
            messages.append(None)
    looked_up = distinct.with_columns(
        pl.Series("checked", checked_values, dtype=_S), pl.Series("message", messages, dtype=_S)
    )
    joined = frame.join(
        looked_up, on=["text", "bic"], how="left", nulls_equal=True, maintain_order="left"
    )
    return joined["checked"], joined["message"]


_REQUISITES_KEYS = frozenset((*_REQUISITES, "bank_account"))


def _is_requisite(key: str) -> bool:
    return key in _REQUISITES_KEYS
