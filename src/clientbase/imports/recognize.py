"""Column recognition: which catalogue field each column of an import file holds, without help.

Three sources, strongest first: the export format of a known system (a fingerprint of its
distinctive headers, then its own column map), the header's synonyms and keywords in Russian,
English and Romanian, and the column's sample values (e-mails, phones, dates, money). Content
also breaks ties and overrules a header that its values clearly contradict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise

from django.core.exceptions import ValidationError

from clientbase.core import file_fields as catalogue
from clientbase.customers.normalize import try_normalize_email, try_normalize_phone, validate_inn
from clientbase.imports.synonyms import (
    AMBIGUOUS_NAMES,
    CUSTOMER_KEYWORDS,
    CUSTOMER_SYNONYMS,
    CUSTOMER_TO_ORDER,
    ORDER_KEYWORDS,
    ORDER_SYNONYMS,
    SYSTEMS,
    Keywords,
)


@dataclass(frozen=True)
class ColumnGuess:
    index: int
    header: str
    field: str | None  # a key of fields.CUSTOMER_FIELDS / ORDER_FIELDS, or None (ignored)
    confidence: float  # 0..1: 1.0 exact synonym or known system column, lower for guesses
    reason: str  # "synonym" | "system" | "content" | "none"


@dataclass(frozen=True)
class Recognition:
    columns: list[ColumnGuess]
    system: str | None  # a key of synonyms.SYSTEMS, or None


def headers_key(headers: list[str]) -> str:
    """The key a saved mapping is stored under: lower-cased, trimmed headers joined by US."""
    return "\x1f".join(h.strip().lower() for h in headers)


# --- header normalisation -------------------------------------------------------------------

_FOLD = str.maketrans(
    {
        "ё": "е",
        "ă": "a",
        "â": "a",
        "î": "i",
        "ș": "s",
        "ş": "s",
        "ț": "t",
        "ţ": "t",
        "é": "e",
        "\u00a0": " ",
        "[": "(",
        "]": ")",
        "{": "(",
        "}": ")",
    }
)
# "firstName", "customerEmail": camel case splits into words before case is folded.
_CAMEL = re.compile(r"(?<=[a-zа-яё])(?=[A-ZА-ЯЁ])")
# Everything but letters, digits, brackets and the number signs separates words
# ("E-mail*", "Эл. почта", "Р/с", "MEMBER_RATING").
_SEPARATORS = re.compile(r"[^\w()№#]+|_")
_SPACES = re.compile(r"\s+")
_BRACKETED = re.compile(r"\(([^()]*)\)")
_UNCLOSED = re.compile(r"\(.*$")
# "Телефон 2", "Address1", "Email 1&2": a column's running number is no part of its meaning.
_TRAILING_NUMBER = re.compile(r"(?:\s*\d+)+$")
# "Цена, руб.", "Кол-во, шт.": a unit says how a value is written, not what it is.
_TRAILING_UNIT = re.compile(
    r"(?:\s+(?:в\s+)?(?:руб|рублях|р|rub|rur|usd|eur|ron|lei|mdl|uah|грн|kzt|byn|шт|pcs|кг|kg))+$"
)


@lru_cache(maxsize=4096)
def _light(header: str) -> str:
    """Case, "ё", diacritics and punctuation folded; brackets kept ("рабочий телефон (контакт)")."""
    text = _CAMEL.sub(" ", header.replace("\ufeff", "")).casefold().translate(_FOLD)
    text = text.replace("№", " № ").replace("#", " # ")
    text = _SEPARATORS.sub(" ", text)
    text = text.replace("(", " (").replace(")", ") ")
    text = _SPACES.sub(" ", text).strip()
    return text.replace("( ", "(").replace(" )", ")")


@lru_cache(maxsize=4096)
def _split(light: str) -> tuple[str, tuple[str, ...]]:
    """The header's core meaning and the notes in its brackets ("(моб.)", "(контакт)")."""
    notes = tuple(n.strip() for n in _BRACKETED.findall(light))
    core = _UNCLOSED.sub(" ", _BRACKETED.sub(" ", light)).replace(")", " ")
    core = _SPACES.sub(" ", core).strip()
    core = _TRAILING_NUMBER.sub("", core).strip() or core
    # Only after a real word: "Д.р." is a birthday, not "д" in roubles.
    without_unit = _TRAILING_UNIT.sub("", core)
    return (without_unit if len(without_unit) >= 3 else core), notes


def _core(text: str) -> str:
    return _split(_light(text))[0]


# --- vocabulary tables ----------------------------------------------------------------------

_MISS = "\0miss"  # not in the table (a None value means "known, and deliberately ignored")


_ORDER_IMAGES = frozenset(CUSTOMER_TO_ORDER.values())


def _build_table(kind: str) -> dict[str, str | None]:
    table: dict[str, str | None] = {}
    if kind == "orders":
        for field, synonyms in ORDER_SYNONYMS.items():
            for synonym in synonyms:
                table.setdefault(_core(synonym), field)
        for field, synonyms in CUSTOMER_SYNONYMS.items():
            for synonym in synonyms:
                table.setdefault(_core(synonym), CUSTOMER_TO_ORDER.get(field))
    else:
        for field, synonyms in CUSTOMER_SYNONYMS.items():
            for synonym in synonyms:
                table.setdefault(_core(synonym), field)
        # Order words in a customer file ("Номер заказа", "Сумма") are known and not ours;
        # the order's own images of customer fields ("Shipping address") are left to the
        # general rules.
        for field, synonyms in ORDER_SYNONYMS.items():
            if field in _ORDER_IMAGES:
                continue
            for synonym in synonyms:
                table.setdefault(_core(synonym), None)
    return table


_TABLES = {kind: _build_table(kind) for kind in catalogue.FIELDS}
# "FIRSTNAME", "e-mail" vs "email": the same words run together.
_COMPACT_TABLES = {
    kind: {core.replace(" ", ""): field for core, field in reversed(list(table.items()))}
    for kind, table in _TABLES.items()
}
_KEYWORDS: dict[str, Keywords] = {"customers": CUSTOMER_KEYWORDS, "orders": ORDER_KEYWORDS}

_SYSTEM_FINGERPRINTS = {
    name: frozenset(_light(h) for h in fmt.fingerprint) for name, fmt in SYSTEMS.items()
}
_SYSTEM_MAPS = {
    name: {
        kind: {_light(h): field for h, field in getattr(fmt, kind).items()}
        for kind in catalogue.FIELDS
    }
    for name, fmt in SYSTEMS.items()
}

# Who a column describes when the header says so besides the field itself.
_PERSON, _COMPANY, _BILLING, _SHIPPING = "person", "company", "billing", "shipping"
_DEFAULT = "default"
_NOTE_QUALIFIERS = {
    "контакт": _PERSON,
    "contact": _PERSON,
    "клиент": _PERSON,
    "customer": _PERSON,
    "компания": _COMPANY,
    "company": _COMPANY,
    "организация": _COMPANY,
    "billing": _BILLING,
    "плательщик": _BILLING,
    "shipping": _SHIPPING,
    "доставка": _SHIPPING,
    "получатель": _SHIPPING,
}
_PREFIX_QUALIFIERS = (
    ("default address ", _DEFAULT),
    ("billing ", _BILLING),
    ("shipping ", _SHIPPING),
    ("customer ", _PERSON),
    ("client ", _PERSON),
    ("contact ", _PERSON),
    ("buyer ", _PERSON),
    ("клиент ", _PERSON),
    ("покупатель ", _PERSON),
    ("company ", _COMPANY),
)
_SUFFIX_QUALIFIERS = (
    (" клиента", _PERSON),
    (" покупателя", _PERSON),
    (" контакта", _PERSON),
    (" заказчика", _PERSON),
    (" client", _PERSON),
    (" clientului", _PERSON),
    (" компании", _COMPANY),
    (" организации", _COMPANY),
    (" companiei", _COMPANY),
    (" плательщика", _BILLING),
    (" получателя", _SHIPPING),
)
_QUALIFIER_CONFIDENCE = {_PERSON: 0.95, _DEFAULT: 0.95, _BILLING: 0.9, _COMPANY: 0.9}
# A recipient's name or phone may be someone else's: kept only when nothing better exists.
_SHIPPING_CONFIDENCE = 0.6
_COMPANY_NAME_WORDS = frozenset({"название", "наименование", "name", "denumire", "nume"})
_PERSON_NAME_FIELDS = frozenset({"full_name", "first_name", "last_name", "middle_name"})
_COMPANY_KEEPS = frozenset(
    {"phone", "email", "inn", "kpp", "ogrn", "bank_bic", "bank_account", "legal_address"}
    | {"company_name", "postal_code", "city", "region", "external_id", "tags", "notes"}
)
_KEYWORD_CONFIDENCE = 0.8


@functools.cache
def _label_table(kind: str) -> dict[str, str]:
    """The catalogue's own field labels, in English and Russian: clientbase's exports use
    them as headers, so a file exported here is recognised exactly when it comes back."""
    from django.utils import translation

    table: dict[str, str] = {}
    for language in ("en", "ru"):
        with translation.override(language):
            for target in catalogue.FIELDS[kind]:
                table.setdefault(_core(str(target.label)), target.key)
    return table


def _lookup(core: str, kind: str) -> str | None:
    labelled = _label_table(kind).get(core)
    if labelled is not None:
        return labelled
    field = _TABLES[kind].get(core, _MISS)
    if field == _MISS:
        field = _COMPACT_TABLES[kind].get(core.replace(" ", ""), _MISS)
    return field


def _keyword(core: str, kind: str) -> str | None:
    padded = f" {core} "
    for stems, field in _KEYWORDS[kind]:
        if any(stem in padded for stem in stems):
            return field
    return _MISS


# Typos ("Телефно", "Adress"): one slip in a word of seven letters still scores 0.85.
_TYPO_MIN_RATIO = 0.85
_TYPO_MIN_LENGTH = 5
_TYPO_CONFIDENCE = 0.7


def _typo_index(kind: str) -> dict[str, tuple[str, ...]]:
    """Synonyms that name a field, by first letter (typos rarely hit the first one)."""
    index: dict[str, list[str]] = {}
    for core, field in _TABLES[kind].items():
        if field is not None and len(core) >= _TYPO_MIN_LENGTH - 1:
            index.setdefault(core[0], []).append(core)
    return {letter: tuple(cores) for letter, cores in index.items()}


_TYPO_INDEX = {kind: _typo_index(kind) for kind in _TABLES}


def _misspelt(core: str, kind: str) -> tuple[str | None, float]:
    if len(core) < _TYPO_MIN_LENGTH or not core[0].isalpha():
        return _MISS, 0.0
    matcher = SequenceMatcher(b=core, autojunk=False)
    best, best_ratio = None, _TYPO_MIN_RATIO
    for candidate in _TYPO_INDEX[kind].get(core[0], ()):
        if abs(len(candidate) - len(core)) > 2:
            continue
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= best_ratio and matcher.quick_ratio() >= best_ratio:
            ratio = matcher.ratio()
            if ratio >= best_ratio:
                best, best_ratio = candidate, ratio
    if best is None:
        return _MISS, 0.0
    return _TABLES[kind][best], _TYPO_CONFIDENCE * best_ratio


def _strip_qualifier(core: str) -> tuple[str | None, str]:
    for prefix, qualifier in _PREFIX_QUALIFIERS:
        if core.startswith(prefix) and len(core) > len(prefix):
            return qualifier, core[len(prefix) :]
    for suffix, qualifier in _SUFFIX_QUALIFIERS:
        if core.endswith(suffix) and len(core) > len(suffix):
            return qualifier, core[: -len(suffix)]
    return None, core


def _qualify(
    field: str | None, core: str, qualifier: str, kind: str, confidence: float
) -> tuple[str | None, float]:
    if qualifier == _COMPANY:
        if kind == "orders":
            return None, 0.0
        if field in _PERSON_NAME_FIELDS or core in _COMPANY_NAME_WORDS:
            return "company_name", confidence * 0.9
        if field == "address":
            return "legal_address", confidence * 0.9
        return (field, confidence * 0.9) if field in _COMPANY_KEEPS else (None, 0.0)
    if qualifier == _SHIPPING:
        if field in ("address", "delivery_address"):
            return field, confidence * (0.95 if kind == "orders" else 0.8)
        return field, min(confidence, _SHIPPING_CONFIDENCE)
    return field, confidence * _QUALIFIER_CONFIDENCE[qualifier]


@lru_cache(maxsize=4096)
def _header_guess(light: str, kind: str) -> tuple[str | None, float] | None:
    """(field or None, confidence) the header alone says; None when it says nothing known."""
    core, notes = _split(light)
    if not core:
        return None
    qualifier = next((_NOTE_QUALIFIERS[n] for n in notes if n in _NOTE_QUALIFIERS), None)
    confidence = 1.0
    field = _lookup(core, kind)
    if field == _MISS:
        stripped_qualifier, rest = _strip_qualifier(core)
        if stripped_qualifier is not None:
            qualifier = qualifier or stripped_qualifier
            core = rest
            field = _lookup(core, kind)
            if field == _MISS and qualifier == _COMPANY and core in _COMPANY_NAME_WORDS:
                field = "company_name"
    if field == _MISS:
        field, confidence = _keyword(core, kind), _KEYWORD_CONFIDENCE
    if field == _MISS:
        field, confidence = _misspelt(core, kind)
    if field == _MISS:
        return None
    if qualifier is not None and field is not None:
        field, confidence = _qualify(field, core, qualifier, kind, confidence)
    return field, confidence


# --- content --------------------------------------------------------------------------------

_PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-]{7,24}$")
_DATE = re.compile(
    r"^(?:(?P<d1>\d{1,2})[./-](?P<m1>\d{1,2})[./-](?P<y1>\d{4}|\d{2})"
    r"|(?P<y2>\d{4})[./-](?P<m2>\d{1,2})[./-](?P<d2>\d{1,2}))"
    r"(?:[ T,]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::\d{2}(?:\.\d+)?)?)?"
    r"\s*(?:z|utc|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
# "24 августа 1990", "Aug 24, 1990", "24-Aug-1990": months in words (RU, EN, RO).
_WORDED_DATE = re.compile(
    r"^(?:\d{1,2}[\s.\-/]+(?P<m1>[^\W\d_]{3,})\.?[\s.\-/,]+\d{4}"
    r"|(?P<m2>[^\W\d_]{3,})\.?\s+\d{1,2},?\s+\d{4})"
    r"(?:\s*г\.?)?(?:[ T,]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::\d{2})?)?$"
)
_MONTHS = frozenset(
    {"янв", "фев", "мар", "апр", "мая", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"}
    | {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
    | {"ian", "mai", "iun", "iul", "noi"}
)
_CURRENCY = r"(?:[$€£₽]|руб\.?|р\.?|rub|usd|eur|ron|lei|mdl|uah|kzt|byn)"
_MONEY = re.compile(
    rf"^[-+]?{_CURRENCY}?\s*(?P<int>\d{{1,3}}(?:[ \u202f']\d{{3}})+|\d+)"
    rf"(?P<frac>[.,]\d{{1,2}})?\s*{_CURRENCY}?$",
    re.IGNORECASE,
)
_WORDS_2_3 = re.compile(r"^[^\W\d_]+(?:[-'’][^\W\d_]+)*(?:\s+[^\W\d_]+(?:[-'’][^\W\d_]+)*){1,2}$")
_MAX_SAMPLES = 40


@dataclass(frozen=True)
class _Content:
    """Shares of a column's non-empty samples that look like each kind of value."""

    filled: int = 0
    email: float = 0.0
    phone: float = 0.0
    date: float = 0.0
    timed: float = 0.0  # dates carrying a time of day other than midnight
    money: float = 0.0
    money_is_decimal: bool = False  # some value has cents or a currency sign
    counts_up: bool = False  # whole numbers that only grow: row numbers or ids, not amounts
    words_2_3: float = 0.0
    inn: float = 0.0


def _is_inn(value: str) -> bool:
    try:
        validate_inn(value)
    except ValidationError:
        return False
    return True


def _is_date(value: str) -> tuple[bool, bool]:
    match = _DATE.match(value)
    if match is None:
        if len(value) > 32 or not (value[0].isdigit() or value[-1].isdigit()):
            return False, False
        worded = _WORDED_DATE.match(value)
        if worded is None or (worded["m1"] or worded["m2"])[:3].casefold() not in _MONTHS:
            return False, False
        timed = worded["h"] is not None and (int(worded["h"]), int(worded["mi"])) != (0, 0)
        return True, timed
    day, month = match["d1"] or match["d2"], match["m1"] or match["m2"]
    day_first = 1 <= int(month) <= 12 and 1 <= int(day) <= 31
    # 08/24/1990: month first is the American form of the same date.
    month_first = 1 <= int(day) <= 12 and 1 <= int(month) <= 31
    if not (day_first or month_first):
        return False, False
    timed = match["h"] is not None and (int(match["h"]), int(match["mi"])) != (0, 0)
    return True, timed


def _analyse(samples: Iterable[str], kind: str) -> _Content:
    values = []
    for raw in samples:
        # Spreadsheets and Tilda keep phones as text with a leading quote.
        value = str(raw).strip().lstrip("'=").strip()
        if value:
            values.append(value)
        if len(values) >= _MAX_SAMPLES:
            break
    if not values:
        return _Content()
    # Shapes are counted on every sample; the exact validators (slower, though cached) run
    # on a few of each shape and scale the count, which keeps a 100-column file in milliseconds.
    email_shaped: list[str] = []
    phone_shaped: list[str] = []
    dates = timed = money = words = inns = 0
    decimal = False
    amounts: list[int] = []
    orders = kind == "orders"
    for value in values:
        if "@" in value:
            email_shaped.append(value)
            continue
        is_date, has_time = _is_date(value)
        if is_date:
            dates += 1
            timed += has_time
            continue
        # Ten digits are a phone to phonenumbers as well; the INN's check digits tell them
        # apart (about one phone in eleven passes them by chance).
        if len(value) in (10, 12) and value.isdigit() and _is_inn(value):
            inns += 1
            continue
        if (
            not value[0].isalpha()
            and _PHONE_SHAPE.match(value)
            and 10 <= sum(map(str.isdigit, value)) <= 15
        ):
            phone_shaped.append(value)
            continue
        if orders:
            match = _MONEY.match(value.lower())
            if match is not None:
                money += 1
                if match["frac"] or not match["int"].isdigit() or not value[-1].isdigit():
                    decimal = True
                elif value[0].isdigit():
                    amounts.append(int(match["int"]))
                continue
        if _WORDS_2_3.match(value):
            words += 1
    n = len(values)
    counts_up = not decimal and len(amounts) >= 3 and all(a < b for a, b in pairwise(amounts))
    return _Content(
        filled=n,
        email=_valid_share(email_shaped, try_normalize_email) * len(email_shaped) / n,
        phone=_valid_share(phone_shaped, try_normalize_phone) * len(phone_shaped) / n,
        date=dates / n,
        timed=timed / dates if dates else 0.0,
        money=money / n,
        money_is_decimal=decimal,
        counts_up=counts_up,
        words_2_3=words / n,
        inn=inns / n,
    )


_VALIDATED_PER_SHAPE = 5


def _valid_share(shaped: list[str], validate: Callable[[str], str | None]) -> float:
    if not shaped:
        return 0.0
    # Spread over the column: a bad run at its top should not decide alone.
    step = max(1, len(shaped) // _VALIDATED_PER_SHAPE)
    checked = shaped[::step][:_VALIDATED_PER_SHAPE]
    return sum(validate(value) is not None for value in checked) / len(checked)


# Content guesses are never certain: each kind's share of matching samples is scaled down.
_EMAIL_FACTOR, _PHONE_FACTOR, _DATE_FACTOR, _INN_FACTOR = 0.9, 0.85, 0.8, 0.8
_MONEY_FACTOR, _WHOLE_MONEY_FACTOR, _ID_LIKE_MONEY_FACTOR = 0.75, 0.6, 0.3
_MIN_CONFIDENCE = 0.5
# A header is overruled only by content this uniform.
_VETO_SHARE = 0.8


def _content_guess(
    content: _Content, kind: str, contacts_only: bool = False
) -> tuple[str | None, float]:
    """The field the samples alone suggest; `contacts_only` for headers known to be no field."""
    if not content.filled:
        return None, 0.0
    orders = kind == "orders"
    options: list[tuple[float, str]] = [
        (content.email * _EMAIL_FACTOR, "customer_email" if orders else "email"),
        (content.phone * _PHONE_FACTOR, "customer_phone" if orders else "phone"),
    ]
    if contacts_only:
        pass
    elif orders:
        options.append((content.date * _DATE_FACTOR, "placed_at"))
        if content.money_is_decimal:
            factor = _MONEY_FACTOR
        elif content.counts_up:
            factor = _ID_LIKE_MONEY_FACTOR
        else:
            factor = _WHOLE_MONEY_FACTOR
        options.append((content.money * factor, "total"))
    else:
        # Dates with a time of day are moments (sign-up), bare dates are birthdays.
        date_field = "registered_at" if content.timed >= 0.5 else "birthday"
        options.append((content.date * _DATE_FACTOR, date_field))
        options.append((content.inn * _INN_FACTOR, "inn"))
    confidence, field = max(options)
    if confidence < _MIN_CONFIDENCE:
        return None, 0.0
    return field, confidence


_FIELD_KINDS = {kind: catalogue.fields_for(kind) for kind in catalogue.FIELDS}
_NAME_LIKE = frozenset(
    {"first_name", "last_name", "middle_name", "company_name", "city", "region", "address"}
    | {"customer_first_name", "customer_last_name", "delivery_method", "item_name"}
)
_EMAIL_COMPATIBLE = frozenset(
    {"email", "customer_email", "external_id", "customer_external_id", "notes"}
)
_DATE_KINDS = frozenset({catalogue.DATE, catalogue.DATETIME})
_PHONE_INCOMPATIBLE_KINDS = frozenset(
    {catalogue.EMAIL, catalogue.FULL_NAME, catalogue.BOOL, catalogue.CHOICE} | _DATE_KINDS
)
_DATE_INCOMPATIBLE_KINDS = frozenset(
    {catalogue.EMAIL, catalogue.PHONE, catalogue.FULL_NAME, catalogue.BOOL}
)


def _contradicts(field: str, content: _Content, kind: str) -> bool:
    """Whether the samples clearly hold something other than what the header promises."""
    if content.filled < 2:
        return False
    value_kind = _FIELD_KINDS[kind][field].kind
    if content.email >= _VETO_SHARE:
        return field not in _EMAIL_COMPATIBLE
    if content.phone >= _VETO_SHARE:
        return value_kind in _PHONE_INCOMPATIBLE_KINDS or field in _NAME_LIKE
    if content.date >= _VETO_SHARE:
        return value_kind in _DATE_INCOMPATIBLE_KINDS or field in _NAME_LIKE
    return False


def _support(field: str, content: _Content, kind: str) -> float:
    """How well the samples fit the field's kind: breaks ties between equally named columns."""
    value_kind = _FIELD_KINDS[kind][field].kind
    if value_kind == catalogue.EMAIL:
        return content.email
    if value_kind == catalogue.PHONE:
        return content.phone
    if value_kind in _DATE_KINDS:
        return content.date
    if value_kind == catalogue.MONEY:
        return content.money
    if value_kind == catalogue.FULL_NAME:
        return content.words_2_3
    return 0.0


# --- the whole file -------------------------------------------------------------------------


def _detect_system(lights: list[str]) -> str | None:
    present = set(lights)
    best: tuple[int, float, str] | None = None
    for name, fingerprint in _SYSTEM_FINGERPRINTS.items():
        hits = len(present & fingerprint)
        if hits >= SYSTEMS[name].min_hits:
            candidate = (hits, hits / len(fingerprint), name)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    return best[2] if best else None


_NAME_FIELDS = {
    "customers": ("full_name", "first_name", "last_name"),
    "orders": ("customer_full_name", "customer_first_name", "customer_last_name"),
}


@dataclass
class _Guess:
    """A column's guess while the file is being worked out."""

    field: str | None
    confidence: float
    reason: str


def _ignored() -> _Guess:
    return _Guess(None, 0.0, "none")


def _settle_names(
    guesses: list[_Guess], cores: list[str], contents: list[_Content], kind: str
) -> None:
    """Decide "Имя"/"Name"/"Nume": a first name beside a last-name column, else by the samples."""
    full, first, last = _NAME_FIELDS[kind]
    fields = {
        g.field for g, core in zip(guesses, cores, strict=True) if core not in AMBIGUOUS_NAMES
    }
    has_last, has_first = last in fields, first in fields
    for guess, core, content in zip(guesses, cores, contents, strict=True):
        if guess.reason != "synonym" or core not in AMBIGUOUS_NAMES or guess.field is None:
            continue
        if core == "nume" and has_first and not has_last:
            # Romanian "Nume" beside "Prenume" is the family name.
            guess.field = last
        elif has_last:
            guess.field = first
        elif content.filled and content.words_2_3 >= 0.5:
            guess.field = full


def _column_guess(
    light: str, content: _Content, kind: str, system_map: dict[str, str | None]
) -> _Guess:
    if light in system_map:
        field = system_map[light]
        return _Guess(field, 1.0, "system") if field else _ignored()
    header = _header_guess(light, kind)
    if header is None:
        return _Guess(*_content_guess(content, kind), "content")
    field, confidence = header
    if field is None:
        # "Дата изменения" is known and no field of ours, whatever dates it holds; a column
        # of e-mails or phones is a contact even under a header such as "Username".
        return _Guess(*_content_guess(content, kind, contacts_only=True), "content")
    if _contradicts(field, content, kind):
        return _Guess(*_content_guess(content, kind), "content")
    return _Guess(field, confidence, "synonym")


def recognize(headers: list[str], samples: list[list[str]], kind: str) -> Recognition:
    """Map each column of a customer or order file to a catalogue field, or to None."""
    if kind not in catalogue.FIELDS:
        raise ValueError(f"unknown file kind: {kind!r}")
    lights = [_light(str(h)) for h in headers]
    system = _detect_system(lights)
    system_map = _SYSTEM_MAPS[system][kind] if system else {}
    contents = [_analyse(samples[i] if i < len(samples) else (), kind) for i in range(len(headers))]
    cores = [_split(light)[0] for light in lights]
    guesses = [
        _column_guess(light, content, kind, system_map)
        for light, content in zip(lights, contents, strict=True)
    ]
    _settle_names(guesses, cores, contents, kind)
    # A delivery column of amounts is the delivery's cost.
    for guess, content in zip(guesses, contents, strict=True):
        if guess.field == "delivery_method" and content.money >= _VETO_SHARE:
            guess.field = "delivery_cost"
    _assign(guesses, contents, kind)
    _one_name_source(guesses, contents, kind)
    columns = [
        ColumnGuess(i, str(headers[i]), g.field, round(g.confidence, 3), g.reason)
        if g.field is not None and g.confidence >= _MIN_CONFIDENCE
        else ColumnGuess(i, str(headers[i]), None, 0.0, "none")
        for i, g in enumerate(guesses)
    ]
    return Recognition(columns=columns, system=system)


# Several columns of a multiple field are kept unless far weaker than its best column
# (a shipping phone beside the customer's own phone).
_MULTIPLE_MARGIN = 0.3


def _assign(guesses: list[_Guess], contents: list[_Content], kind: str) -> None:
    """At most one column per single-valued field: the surest, ties by content, then order."""
    by_field: dict[str, list[int]] = {}
    for i, guess in enumerate(guesses):
        if guess.field is not None and guess.confidence >= _MIN_CONFIDENCE:
            by_field.setdefault(guess.field, []).append(i)
    for field, indexes in by_field.items():
        if len(indexes) < 2:
            continue
        if _FIELD_KINDS[kind][field].multiple:
            best = max(guesses[i].confidence for i in indexes)
            losers = [i for i in indexes if guesses[i].confidence < best - _MULTIPLE_MARGIN]
        else:
            winner = max(
                indexes,
                key=lambda i: (guesses[i].confidence, _support(field, contents[i], kind), -i),
            )
            losers = [i for i in indexes if i != winner]
        for i in losers:
            guesses[i] = _ignored()


_NAME_PARTS = {
    "customers": ("last_name", "first_name", "middle_name"),
    "orders": ("customer_last_name", "customer_first_name"),
}


def _one_name_source(guesses: list[_Guess], contents: list[_Content], kind: str) -> None:
    """A full-name column and name-part columns would each fill the same names: keep one side.

    The parts win when they include a last name and are as sure and as filled as the full name
    (they need no splitting); a lone first name beside a full name adds nothing.
    """
    full_field = _NAME_FIELDS[kind][0]
    full = [i for i, g in enumerate(guesses) if g.field == full_field]
    parts = [i for i, g in enumerate(guesses) if g.field in _NAME_PARTS[kind]]
    if not full or not parts:
        return
    (full_index,) = full  # full_name is single: _assign left at most one

    def strength(i: int) -> tuple[float, int]:
        return guesses[i].confidence, contents[i].filled

    has_last = any(guesses[i].field == _NAME_PARTS[kind][0] for i in parts)
    if has_last and max(strength(i) for i in parts) >= strength(full_index):
        guesses[full_index] = _ignored()
    else:
        for i in parts:
            guesses[i] = _ignored()
