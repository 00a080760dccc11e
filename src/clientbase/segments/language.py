"""The segment language: tokenizer, recursive-descent parser, AST, compiler to a Django Q.

    kind = person and city = "Москва" and tag = "Скидки" and orders >= 3
    and last_order > 90 days ago and rfm in (champions, loyal) and birthday within 14 days

Only the fields in FIELDS can be named, each mapped to an ORM path; values are bound as query
parameters by the ORM, so no input reaches SQL text. Every problem with the input raises
SegmentQueryError with the position (0-based index into the text) where it was found.
docs/segments.md is the reference.
"""

from __future__ import annotations

import calendar
import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbase.customers.normalize import normalize_city

MAX_LENGTH = 4000
MAX_DEPTH = 30
MAX_CONDITIONS = 100
MAX_LIST = 200
MAX_NUMBER = Decimal("1e12")
MIN_YEAR, MAX_YEAR = 1800, 2999


class SegmentQueryError(Exception):
    """What is wrong with a query and where: position is a 0-based index into the text."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return self.message


def _error(message: str, position: int, **params: Any) -> SegmentQueryError:
    # Positions are shown counting characters from 1, as an editor does.
    return SegmentQueryError(message % {**params, "pos": position + 1}, position)


# ---------------------------------------------------------------- tokens

WORD, STRING, NUMBER, DATE, OP, LPAREN, RPAREN, COMMA, END = (
    "word",
    "string",
    "number",
    "date",
    "op",
    "(",
    ")",
    ",",
    "end",
)
OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # the value: unquoted string, lower-cased word, operator
    position: int
    raw: str = ""  # the word as written, for messages


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_."


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise _error(
            _("The query is too long: at most %(max)d characters (position %(pos)d)."),
            MAX_LENGTH,
            max=MAX_LENGTH,
        )
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char == "\x00" or unicodedata.category(char) in ("Cs", "Cc"):
            raise _error(_("Unexpected character at position %(pos)d."), i)
        start = i
        if char in "\"'":
            quote, i, chars = char, i + 1, []
            while True:
                if i >= n:
                    raise _error(_("Unclosed quote that opens at position %(pos)d."), start)
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in "\"'\\":
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == quote:
                    i += 1
                    break
                if c == "\x00" or unicodedata.category(c) == "Cs":
                    raise _error(_("Unexpected character at position %(pos)d."), i)
                chars.append(c)
                i += 1
            tokens.append(Token(STRING, "".join(chars), start))
            continue
        if char == "(":
            tokens.append(Token(LPAREN, "(", i))
            i += 1
            continue
        if char == ")":
            tokens.append(Token(RPAREN, ")", i))
            i += 1
            continue
        if char == ",":
            tokens.append(Token(COMMA, ",", i))
            i += 1
            continue
        operator = next((op for op in OPERATORS if text.startswith(op, i)), None)
        if operator:
            tokens.append(Token(OP, "!=" if operator == "<>" else operator, i))
            i += len(operator)
            continue
        if (char == "-" and i + 1 < n and text[i + 1].isdigit()) or char.isdigit():
            i += 1
            while i < n and (text[i].isdigit() or text[i] in ".-"):
                i += 1
            raw = text[start:i]
            if _looks_like_date(raw):
                tokens.append(Token(DATE, raw, start))
            elif _looks_like_number(raw):
                tokens.append(Token(NUMBER, raw, start))
            else:
                raise _error(
                    _("“%(text)s” at position %(pos)d is neither a number nor a date."),
                    start,
                    text=raw,
                )
            if i < n and _is_word_char(text[i]):
                raise _error(_("Unexpected character at position %(pos)d."), i)
            continue
        if _is_word_char(char):
            while i < n and _is_word_char(text[i]):
                i += 1
            raw = text[start:i]
            tokens.append(Token(WORD, raw.lower(), start, raw))
            continue
        raise _error(_("Unexpected character “%(char)s” at position %(pos)d."), i, char=char)
    tokens.append(Token(END, "", n))
    return tokens


def _looks_like_date(raw: str) -> bool:
    parts = raw.split("-")
    return (
        len(parts) == 3
        and len(parts[0]) == 4
        and all(p.isdigit() for p in parts)
        and len(parts[1]) in (1, 2)
        and len(parts[2]) in (1, 2)
    )


def _looks_like_number(raw: str) -> bool:
    body = raw[1:] if raw.startswith("-") else raw
    head, _dot, tail = body.partition(".")
    return head.isdigit() and (not _dot or tail.isdigit()) and "-" not in body


# ---------------------------------------------------------------- the AST


@dataclass(frozen=True)
class RelativeDate:
    """`90 days ago`, `3 months ago`; `today` is RelativeDate(0, "days")."""

    amount: int
    unit: str  # days, weeks, months, years

    def resolve(self, today: dt.date) -> dt.date:
        if self.unit == "days":
            return today - dt.timedelta(days=self.amount)
        if self.unit == "weeks":
            return today - dt.timedelta(weeks=self.amount)
        months = self.amount * (12 if self.unit == "years" else 1)
        index = today.year * 12 + today.month - 1 - months
        year, month = divmod(index, 12)
        month += 1
        day = min(today.day, calendar.monthrange(year, month)[1])
        return dt.date(year, month, day)

    def render(self) -> str:
        if self.amount == 0 and self.unit == "days":
            return "today"
        unit = self.unit if self.amount != 1 else self.unit[:-1]
        return f"{self.amount} {unit} ago"


NONE = "none"  # the value `none` of the manager field: no manager


@dataclass(frozen=True)
class Condition:
    field: str  # canonical field name; custom fields are "custom.<key>"
    op: str  # = != < <= > >= in "not in" within
    values: tuple[Any, ...]
    position: int = 0


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Condition | And | Or | Not


# ---------------------------------------------------------------- the allowlist

EQUALITY = ("=", "!=", "in", "not in")
ORDERED = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
BOOLEAN_OPS = ("=", "!=")

TRUE_WORDS = {"true", "yes", "да"}
FALSE_WORDS = {"false", "no", "нет"}


def _choices(name: str) -> Callable[[], list[tuple[str, str]]]:
    """Lazy (value, label) choices of an enum field, imported on first use."""

    def load() -> list[tuple[str, str]]:
        from clientbase.analytics.choices import RfmSegment
        from clientbase.customers.choices import (
            ConsentState,
            CustomerKind,
            CustomerStatus,
            Gender,
            SourceChannel,
        )

        table: dict[str, Any] = {
            "kind": CustomerKind.choices,
            "status": CustomerStatus.choices,
            "gender": [("unknown", Gender.UNKNOWN.label), *Gender.choices[1:]],
            "source": SourceChannel.choices,
            "rfm": RfmSegment.choices,
            "consent": ConsentState.choices,
        }
        return [(str(v), str(label)) for v, label in table[name]]

    return load


IMPORTANCE_WORDS = {"low": 1, "normal": 2, "high": 3, "vip": 4}
# Text fields answered by a table of (value, customer) rows rather than a customer column:
# tags, interests (CustomerInterest), bought categories (CustomerCategory), the region of the
# default address. Each compiles to the customer ids an index over (value, customer) gives.
SET_TYPES = ("tag", "interest", "category", "region")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # enum text number int decimal float date datetime bool tag manager consent ...
    path: str = ""
    label: Any = ""
    aliases: tuple[str, ...] = ()
    ops: tuple[str, ...] = EQUALITY
    choices: Callable[[], list[tuple[str, str]]] | None = None
    # The value a customer without the related row has (no stats or score row yet).
    missing: Any = None
    relation: str = ""  # "stats" or "score": the one-to-one row the path goes through


def _spec(*args: Any, **kwargs: Any) -> FieldSpec:
    return FieldSpec(*args, **kwargs)


FIELDS: tuple[FieldSpec, ...] = (
    _spec("kind", "enum", "kind", gettext_lazy("Kind"), ("тип",), choices=_choices("kind")),
    _spec(
        "status", "enum", "status", gettext_lazy("Status"), ("статус",), choices=_choices("status")
    ),
    _spec("city", "text", "city", gettext_lazy("City"), ("город",)),
    _spec("gender", "enum", "gender", gettext_lazy("Gender"), ("пол",), choices=_choices("gender")),
    _spec(
        "source",
        "enum",
        "source",
        gettext_lazy("Source channel"),
        ("источник",),
        choices=_choices("source"),
    ),
    _spec("manager", "manager", "manager__username", gettext_lazy("Manager"), ("менеджер",)),
    _spec("vip", "bool", "vip", gettext_lazy("VIP mark"), ("вип",), BOOLEAN_OPS),
    _spec("created", "datetime", "created_at", gettext_lazy("Created"), ("создан",), ORDERED),
    _spec("birthday", "date", "birthday", gettext_lazy("Birthday"), ("день_рождения",), ORDERED),
    _spec(
        "birth_month",
        "int",
        "birth_month",
        gettext_lazy("Birth month"),
        ("месяц_рождения",),
        ORDERED,
    ),
    _spec("tag", "tag", "", gettext_lazy("Tag"), ("тег", "метка")),
    _spec("interest", "interest", "", gettext_lazy("Interest"), ("интерес",)),
    _spec(
        "category",
        "category",
        "",
        gettext_lazy("Bought category"),
        ("категория", "bought_category"),
    ),
    _spec("region", "region", "", gettext_lazy("Region"), ("регион",)),
    _spec(
        "has_email",
        "has",
        "primary_email",
        gettext_lazy("Has an e-mail"),
        ("есть_email",),
        BOOLEAN_OPS,
    ),
    _spec(
        "has_phone",
        "has",
        "primary_phone",
        gettext_lazy("Has a phone"),
        ("есть_телефон",),
        BOOLEAN_OPS,
    ),
    _spec(
        "email_consent",
        "consent",
        "email",
        gettext_lazy("E-mail marketing consent"),
        ("согласие_email",),
        choices=_choices("consent"),
    ),
    _spec(
        "sms_consent",
        "consent",
        "sms",
        gettext_lazy("SMS marketing consent"),
        ("согласие_sms",),
        choices=_choices("consent"),
    ),
    _spec(
        "orders",
        "int",
        "stats__orders_count",
        gettext_lazy("Orders"),
        ("заказы",),
        ORDERED,
        missing=0,
        relation="stats",
    ),
    _spec(
        "delivered",
        "int",
        "stats__delivered_count",
        gettext_lazy("Delivered orders"),
        ("доставлено",),
        ORDERED,
        missing=0,
        relation="stats",
    ),
    _spec(
        "revenue",
        "decimal",
        "stats__revenue",
        gettext_lazy("Revenue"),
        ("выручка",),
        ORDERED,
        missing=0,
        relation="stats",
    ),
    _spec(
        "aov",
        "decimal",
        "stats__average_order_value",
        gettext_lazy("Average order value"),
        ("средний_чек",),
        ORDERED,
        missing=0,
        relation="stats",
    ),
    _spec(
        "first_order",
        "datetime",
        "stats__first_order_at",
        gettext_lazy("First order"),
        ("первый_заказ",),
        ORDERED,
        relation="stats",
    ),
    _spec(
        "last_order",
        "datetime",
        "stats__last_order_at",
        gettext_lazy("Last order"),
        ("последний_заказ",),
        ORDERED,
        relation="stats",
    ),
    _spec(
        "refusals",
        "int",
        "stats__refused_cod_count",
        gettext_lazy("Refused parcels"),
        ("отказы",),
        ORDERED,
        missing=0,
        relation="stats",
    ),
    _spec(
        "rfm",
        "enum",
        "score__rfm_segment",
        gettext_lazy("RFM segment"),
        ("рфм",),
        choices=_choices("rfm"),
        missing="no_orders",
        relation="score",
    ),
    _spec(
        "r",
        "int",
        "score__r_score",
        gettext_lazy("R score"),
        (),
        ORDERED,
        missing=0,
        relation="score",
    ),
    _spec(
        "f",
        "int",
        "score__f_score",
        gettext_lazy("F score"),
        (),
        ORDERED,
        missing=0,
        relation="score",
    ),
    _spec(
        "m",
        "int",
        "score__m_score",
        gettext_lazy("M score"),
        (),
        ORDERED,
        missing=0,
        relation="score",
    ),
    _spec(
        "p_alive",
        "float",
        "score__p_alive",
        gettext_lazy("Probability of being active"),
        ("вероятность_активности",),
        ORDERED,
        relation="score",
    ),
    _spec(
        "expected_purchases",
        "float",
        "score__expected_purchases",
        gettext_lazy("Expected purchases"),
        ("ожидаемые_покупки",),
        ORDERED,
        relation="score",
    ),
    _spec(
        "expected_value",
        "decimal",
        "score__expected_order_value",
        gettext_lazy("Expected order value"),
        ("ожидаемый_чек",),
        ORDERED,
        relation="score",
    ),
    _spec(
        "clv",
        "decimal",
        "score__clv",
        gettext_lazy("Customer lifetime value"),
        ("ценность",),
        ORDERED,
        relation="score",
    ),
    _spec(
        "importance",
        "importance",
        "score__importance",
        gettext_lazy("Importance"),
        ("важность",),
        ORDERED,
        choices=lambda: [(k, k) for k in IMPORTANCE_WORDS],
        missing=2,
        relation="score",
    ),
)
FIELD_BY_NAME: dict[str, FieldSpec] = {}
for _field in FIELDS:
    FIELD_BY_NAME[_field.name] = _field
    for _alias in _field.aliases:
        FIELD_BY_NAME[_alias] = _field
CUSTOM_PREFIXES = ("custom.", "поле.")
CUSTOM_TYPES = {
    "number": "float",
    "date": "date",
    "boolean": "bool",
    "text": "text",
    "choice": "text",
}


def known_fields() -> str:
    return ", ".join([f.name for f in FIELDS] + ["custom.<key>"])


# ---------------------------------------------------------------- the parser

AND_WORDS = {"and", "и"}
OR_WORDS = {"or", "или"}
NOT_WORDS = {"not", "не"}
IN_WORDS = {"in", "в"}
WITHIN_WORDS = {"within", "в_течение"}
MONTH_WORDS = {"month", "месяц", "месяце"}
AGO_WORDS = {"ago", "назад"}
TODAY_WORDS = {"today", "сегодня"}
UNITS = {
    "day": "days",
    "days": "days",
    "день": "days",
    "дня": "days",
    "дней": "days",
    "week": "weeks",
    "weeks": "weeks",
    "неделя": "weeks",
    "недели": "weeks",
    "недель": "weeks",
    "неделю": "weeks",
    "month": "months",
    "months": "months",
    "месяц": "months",
    "месяца": "months",
    "месяцев": "months",
    "year": "years",
    "years": "years",
    "год": "years",
    "года": "years",
    "лет": "years",
}
UNIT_LIMIT = {"days": 100_000, "weeks": 10_000, "months": 5_000, "years": 500}
OP_WORDS = {"=", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, text: str, custom_fields: Callable[[], dict[str, str]] | None):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.conditions = 0
        self._custom_loader = custom_fields
        self._custom: dict[str, str] | None = None

    # -- helpers
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != END:
            self.index += 1
        return token

    def is_word(self, words: set[str], offset: int = 0) -> bool:
        token = self.tokens[min(self.index + offset, len(self.tokens) - 1)]
        return token.kind == WORD and token.text in words

    def describe_token(self, token: Token) -> str:
        if token.kind == END:
            return _("the end of the query")
        # Quoted by the translation, so a Russian message uses «» throughout.
        if token.kind == STRING:
            return _("“%(text)s”") % {"text": token.text[:40]}
        return _("“%(text)s”") % {"text": (token.raw or token.text)[:40]}

    def unexpected(self, expected: str) -> SegmentQueryError:
        token = self.token
        return _error(
            _("Expected %(expected)s at position %(pos)d, found %(found)s."),
            token.position,
            expected=expected,
            found=self.describe_token(token),
        )

    # -- grammar
    def parse(self) -> Node:
        if self.token.kind == END:
            raise _error(_("The query is empty."), 0)
        node = self.or_expr()
        if self.token.kind == RPAREN:
            raise _error(
                _("Unmatched closing parenthesis at position %(pos)d."), self.token.position
            )
        if self.token.kind != END:
            raise self.unexpected(_("“and”, “or” or the end of the query"))
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_word(OR_WORDS):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_word(AND_WORDS):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.is_word(NOT_WORDS):
            self.advance()
            self._enter()
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.primary()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(
                _("The query is nested too deeply at position %(pos)d."), self.token.position
            )

    def primary(self) -> Node:
        token = self.token
        if token.kind == LPAREN:
            self.advance()
            self._enter()
            node = self.or_expr()
            self.depth -= 1
            if self.token.kind != RPAREN:
                if self.token.kind == END:
                    raise _error(
                        _("Unclosed parenthesis that opens at position %(pos)d."), token.position
                    )
                raise self.unexpected(_("“)”"))
            self.advance()
            return node
        if token.kind != WORD or token.text in AND_WORDS | OR_WORDS:
            raise self.unexpected(_("a field name"))
        return self.condition()

    def field_spec(self, token: Token) -> tuple[str, FieldSpec]:
        name = token.text
        for prefix in CUSTOM_PREFIXES:
            if name.startswith(prefix):
                key = (token.raw or name)[len(prefix) :]
                kind = self.custom_fields().get(key)
                if kind is None:
                    raise _error(
                        _("Unknown custom field “%(key)s” at position %(pos)d."),
                        token.position,
                        key=key[:40],
                    )
                spec = FieldSpec(
                    f"custom.{key}",
                    CUSTOM_TYPES.get(kind, "text"),
                    f"custom_fields__{key}",
                    key,
                    ops=BOOLEAN_OPS if kind == "boolean" else ORDERED,
                )
                return spec.name, spec
        found = FIELD_BY_NAME.get(name)
        if found is None:
            raise _error(
                _("Unknown field “%(name)s” at position %(pos)d; known fields: %(known)s."),
                token.position,
                name=(token.raw or name)[:40],
                known=known_fields(),
            )
        return found.name, found

    def custom_fields(self) -> dict[str, str]:
        if self._custom is None:
            self._custom = self._custom_loader() if self._custom_loader else _load_custom_fields()
        return self._custom

    def condition(self) -> Node:
        token = self.advance()
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _error(
                _("Too many conditions: at most %(max)d (position %(pos)d)."),
                token.position,
                max=MAX_CONDITIONS,
            )
        name, spec = self.field_spec(token)
        if spec.name == "birthday":
            if self.is_word(WITHIN_WORDS):
                self.advance()
                days = self.whole_number(0, 366)
                if self.token.kind == WORD and UNITS.get(self.token.text) == "days":
                    self.advance()
                else:
                    raise self.unexpected(_("“days”"))
                return Condition("birthday", "within", (days,), token.position)
            if self.is_word(IN_WORDS) and self.is_word(MONTH_WORDS, 1):
                self.advance()
                self.advance()
                month = self.whole_number(1, 12)
                return Condition("birth_month", "=", (month,), token.position)
        if spec.type in ("bool", "has") and (
            self.token.kind == END
            or self.is_word(AND_WORDS | OR_WORDS)
            or self.token.kind == RPAREN
        ):
            return Condition(name, "=", (True,), token.position)
        op_token = self.token
        if op_token.kind == OP:
            op = self.advance().text
        elif self.is_word(IN_WORDS):
            self.advance()
            op = "in"
        elif self.is_word(NOT_WORDS) and self.is_word(IN_WORDS, 1):
            self.advance()
            self.advance()
            op = "not in"
        else:
            raise self.unexpected(
                _("an operator (=, !=, <, <=, >, >=, in) after “%(name)s”") % {"name": name}
            )
        if op not in spec.ops:
            raise _error(
                _(
                    "The field “%(name)s” does not take “%(op)s” (position %(pos)d); "
                    "it takes: %(ops)s."
                ),
                op_token.position,
                name=name,
                op=op,
                ops=", ".join(spec.ops),
            )
        if op in ("in", "not in"):
            open_token = self.token
            if open_token.kind != LPAREN:
                raise self.unexpected(_("“(” and a list of values after “%(op)s”") % {"op": op})
            self.advance()
            values = [self.value(spec, op)]
            while self.token.kind == COMMA:
                self.advance()
                values.append(self.value(spec, op))
                if len(values) > MAX_LIST:
                    raise _error(
                        _("Too many values in the list at position %(pos)d: at most %(max)d."),
                        self.token.position,
                        max=MAX_LIST,
                    )
            if self.token.kind != RPAREN:
                if self.token.kind == END:
                    raise _error(
                        _("Unclosed parenthesis that opens at position %(pos)d."),
                        open_token.position,
                    )
                raise self.unexpected(_("“,” or “)”"))
            self.advance()
            return Condition(name, op, tuple(values), token.position)
        return Condition(name, op, (self.value(spec, op),), token.position)

    def whole_number(self, low: int, high: int) -> int:
        token = self.token
        if token.kind != NUMBER or "." in token.text or token.text.startswith("-"):
            raise self.unexpected(_("a whole number"))
        number = int(token.text) if len(token.text) < 12 else high + 1
        if not low <= number <= high:
            raise _error(
                _("The number at position %(pos)d must be from %(low)d to %(high)d."),
                token.position,
                low=low,
                high=high,
            )
        self.advance()
        return number

    # -- values
    def value(self, spec: FieldSpec, op: str) -> Any:
        token = self.token
        kind = spec.type
        if kind in ("text", *SET_TYPES):
            if token.kind in (STRING, NUMBER):
                return self.advance().text
            if token.kind == WORD and token.text not in AND_WORDS | OR_WORDS:
                return self.advance().raw
            raise self.expected_after(_("a text in quotes"), op)
        if kind == "manager":
            if token.kind == WORD and token.text in {"none", "нет"}:
                self.advance()
                return NONE
            if token.kind in (STRING, WORD, NUMBER):
                return self.advance().raw or token.text
            raise self.expected_after(_("a user name"), op)
        if kind in ("enum", "consent"):
            known = [v for v, _label in spec.choices()] if spec.choices else []
            if token.kind in (WORD, STRING):
                word = token.text.lower()
                if word not in known:
                    raise _error(
                        _(
                            "Unknown value “%(value)s” of “%(name)s” at position %(pos)d; "
                            "known: %(known)s."
                        ),
                        token.position,
                        value=(token.raw or token.text)[:40],
                        name=spec.name,
                        known=", ".join(known),
                    )
                self.advance()
                return word
            raise self.expected_after(_("one of: %(known)s") % {"known": ", ".join(known)}, op)
        if kind in ("bool", "has"):
            if token.kind == WORD and token.text in TRUE_WORDS | FALSE_WORDS:
                self.advance()
                return token.text in TRUE_WORDS
            raise self.expected_after(_("true or false"), op)
        if kind == "importance":
            if token.kind == WORD and token.text in IMPORTANCE_WORDS:
                self.advance()
                return IMPORTANCE_WORDS[token.text]
            if token.kind == NUMBER and token.text in ("1", "2", "3", "4"):
                self.advance()
                return int(token.text)
            raise self.expected_after(_("low, normal, high or vip"), op)
        if kind in ("int", "decimal", "float"):
            if token.kind != NUMBER:
                raise self.expected_after(_("a number"), op)
            try:
                number = Decimal(token.text)
            except InvalidOperation as exc:  # pragma: no cover - the tokenizer checked it
                raise self.expected_after(_("a number"), op) from exc
            if abs(number) >= MAX_NUMBER:
                raise _error(_("The number at position %(pos)d is too large."), token.position)
            self.advance()
            if kind == "int":
                if number != number.to_integral_value():
                    raise _error(_("Expected a whole number at position %(pos)d."), token.position)
                return int(number)
            return float(number) if kind == "float" else number
        if kind in ("date", "datetime"):
            return self.date_value(op)
        raise self.unexpected(_("a value"))  # pragma: no cover - every type is handled above

    def expected_after(self, what: str, op: str) -> SegmentQueryError:
        return _error(
            _("Expected %(what)s after “%(op)s” at position %(pos)d, found %(found)s."),
            self.token.position,
            what=what,
            op=op,
            found=self.describe_token(self.token),
        )

    def date_value(self, op: str) -> Any:
        token = self.token
        if token.kind == DATE:
            try:
                year, month, day = (int(p) for p in token.text.split("-"))
                value = dt.date(year, month, day)
            except ValueError as exc:
                raise _error(
                    _("“%(text)s” at position %(pos)d is not a real date."),
                    token.position,
                    text=token.text,
                ) from exc
            if not MIN_YEAR <= value.year <= MAX_YEAR:
                raise _error(
                    _("The date at position %(pos)d must be between %(low)d and %(high)d."),
                    token.position,
                    low=MIN_YEAR,
                    high=MAX_YEAR,
                )
            self.advance()
            return value
        if token.kind == WORD and token.text in TODAY_WORDS:
            self.advance()
            return RelativeDate(0, "days")
        if token.kind == NUMBER and token.text.isdigit():
            unit_token = self.tokens[self.index + 1]
            unit = UNITS.get(unit_token.text) if unit_token.kind == WORD else None
            if unit is None:
                self.advance()
                raise self.unexpected(_("days, weeks, months or years"))
            amount = int(token.text) if len(token.text) < 9 else UNIT_LIMIT[unit] + 1
            if amount > UNIT_LIMIT[unit]:
                raise _error(_("The number at position %(pos)d is too large."), token.position)
            self.advance()
            self.advance()
            if not self.is_word(AGO_WORDS):
                raise self.unexpected(_("“ago”"))
            self.advance()
            return RelativeDate(amount, unit)
        raise self.expected_after(_("a date (2026-01-31, 90 days ago, today)"), op)


def _load_custom_fields() -> dict[str, str]:
    from clientbase.customers.models import CustomFieldDefinition

    return dict(CustomFieldDefinition.objects.values_list("key", "field_type"))


def parse(text: str, *, custom_fields: Callable[[], dict[str, str]] | None = None) -> Node:
    """Text -> AST, or SegmentQueryError. `custom_fields` returns {key: type} (default: the DB)."""
    if not isinstance(text, str):
        raise SegmentQueryError(_("The query must be text."), 0)
    return _Parser(text, custom_fields).parse()


# ---------------------------------------------------------------- rendering back to text


def _render_value(value: Any, spec_type: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, RelativeDate):
        return value.render()
    if isinstance(value, dt.date):
        return value.isoformat()
    if spec_type == "importance":
        return next(k for k, v in IMPORTANCE_WORDS.items() if v == value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if spec_type in ("enum", "consent") or (spec_type == "manager" and value == NONE):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def field_type(name: str) -> str:
    if name.startswith("custom."):
        return "custom"
    spec = FIELD_BY_NAME.get(name)
    return spec.type if spec else "text"


def render_condition(node: Condition) -> str:
    kind = field_type(node.field)
    if node.op == "within":
        return f"birthday within {node.values[0]} days"
    if kind == "custom":
        kind = "text"
    rendered = [_render_value(v, kind) for v in node.values]
    if node.op in ("in", "not in"):
        return f"{node.field} {node.op} ({', '.join(rendered)})"
    return f"{node.field} {node.op} {rendered[0]}"


def describe(node: Node) -> str:
    """The canonical text of an AST: parse(describe(parse(t))) == parse(t)."""
    if isinstance(node, Condition):
        return render_condition(node)
    if isinstance(node, Not):
        inner = describe(node.item)
        return f"not {inner}" if isinstance(node.item, Condition | Not) else f"not ({inner})"
    if isinstance(node, And):
        return " and ".join(
            f"({describe(item)})" if isinstance(item, Or) else describe(item) for item in node.items
        )
    return " or ".join(describe(item) for item in node.items)


def canonical(text: str) -> str:
    return describe(parse(text))


# ---------------------------------------------------------------- compiling to Q


def _drives(node: Node) -> bool:
    """Whether a condition on the customer row can give the database an index range to start
    from (the set fields of SET_TYPES are probed per candidate instead)."""
    return isinstance(node, Condition) and field_type(node.field) not in SET_TYPES


# Fields whose "=" / "in" an index on the customer table (or the tag table) answers as a list of
# customer ids without reading customer rows: see _Compiler.member_ids.
INDEXED_SETS = frozenset(
    {
        "kind",
        "status",
        "city",
        "vip",
        "manager",
        "created",
        "birthday",
        "birth_month",
        "tag",
        "interest",
        "category",
        "region",
    }
)


def _indexed_set(node: Node) -> bool:
    """Whether a condition is a positive test an index serves as a set of customer ids."""
    if not isinstance(node, Condition) or node.field not in INDEXED_SETS:
        return False
    if node.field == "birthday":
        return node.op == "within"
    if node.field == "created":
        return node.op in ("=", "<", "<=", ">", ">=")
    return node.op in ("=", "in") and not any(isinstance(v, RelativeDate) for v in node.values)


@dataclass
class _Compiler:
    today: dt.date
    tz: dt.tzinfo = field(default_factory=timezone.get_current_timezone)
    # Inside an AND with another indexed condition, a tag is probed per customer through the
    # (customer, tag) unique index; alone, it is read as the list of the tag's customers.
    # Measured on 1M customers: city+kind+tag 179 ms as a list, 78 ms probed.
    tag_probe: bool = False
    # Compiling an item of an AND (directly or under NOT): an OR there is checked per candidate
    # row of the AND's other conditions.
    in_and: bool = False

    def compile(self, node: Node) -> Q:
        if isinstance(node, Condition):
            return self.condition(node)
        if isinstance(node, Not):
            return ~self.compile(node.item)
        if isinstance(node, Or) and self.in_and and all(_indexed_set(i) for i in node.items):
            # `kind = company and (tag = X or vip)`: as `tag probe OR vip column` the database
            # reads every company's row (100k random reads on 1M customers: 390 ms); as
            # `pk IN (ids) OR pk IN (ids)` it builds both small id sets from their indexes and
            # tests each company's id, which the kind index already holds: 60 ms.
            combined = self.member_ids(node.items[0])
            for item in node.items[1:]:
                combined |= self.member_ids(item)
            return combined
        saved = self.tag_probe, self.in_and
        self.in_and = isinstance(node, And)
        if isinstance(node, And) and any(_drives(item) for item in node.items):
            self.tag_probe = True
        combined = self.compile(node.items[0])
        for item in node.items[1:]:
            if isinstance(node, And):
                combined &= self.compile(item)
            else:
                combined |= self.compile(item)
        self.tag_probe, self.in_and = saved
        return combined

    def member_ids(self, node: Node) -> Q:
        """`pk IN (the ids of the customers matching node)`, the ids read from an index."""
        from clientbase.customers.models import Customer

        assert isinstance(node, Condition)  # an _indexed_set condition
        saved = self.tag_probe
        self.tag_probe = False  # a tag as the list of its customers
        q = self.condition(node)
        self.tag_probe = saved
        if node.field in SET_TYPES:
            return q
        return Q(pk__in=Customer.objects.filter(q).values("pk"))

    def condition(self, node: Condition) -> Q:
        if node.op == "not in":
            return ~self.condition(Condition(node.field, "in", node.values, node.position))
        if node.op == "!=":
            return ~self.condition(Condition(node.field, "=", node.values, node.position))
        if node.op == "within":
            return self.birthday_within(node.values[0])
        if node.op == "in" and any(isinstance(v, dt.date | RelativeDate) for v in node.values):
            # A list of dates: any of those days.
            q = Q()
            for value in node.values:
                q |= self.condition(Condition(node.field, "=", (value,), node.position))
            return q
        if node.field.startswith("custom."):
            return self.custom(node)
        spec = FIELD_BY_NAME[node.field]
        kind = spec.type
        if kind == "tag":
            from clientbase.customers.models import Customer, Tag

            # Tag ids first (a small table): the probe then needs no join per customer.
            tag_ids = list(
                Tag.objects.filter(name__in=list(node.values)).values_list("pk", flat=True)
            )
            through = Customer.tags.through.objects.filter(tag_id__in=tag_ids)
            if self.tag_probe:
                return Q(Exists(through.filter(customer_id=OuterRef("pk"))))
            return Q(pk__in=through.values("customer_id"))
        if kind in ("interest", "category", "region"):
            rows = set_rows(kind, list(node.values))
            if self.tag_probe:
                return Q(Exists(rows.filter(customer_id=OuterRef("pk"))))
            return Q(pk__in=rows.values("customer_id"))
        if kind == "consent":
            return self.consent(spec.path, set(node.values))
        if kind == "bool":
            # "IN (true)", not a bare column: SQLite uses the index only for a comparison.
            return Q(**{f"{spec.path}__in": [node.values[0]]})
        if kind == "has":
            present = ~Q(**{spec.path: ""})
            return present if node.values[0] else ~present
        if kind == "manager":
            names = [v for v in node.values if v != NONE]
            q = Q(manager__username__in=names) if names else Q(pk__in=[])
            if NONE in node.values:
                q |= Q(manager__isnull=True)
            return q
        if kind == "enum" and node.field == "gender":
            values = ["" if v == "unknown" else v for v in node.values]
            return self.compare(spec, node.op, values)
        if kind in ("date", "datetime"):
            return self.dates(spec.path, node.op, node.values[0], kind == "datetime", spec)
        if node.field == "city":
            # Cities are stored in one form: `city = "москва"` compares "Москва" with "=",
            # which the city indexes answer.
            return self.compare(spec, node.op, [normalize_city(v) for v in node.values])
        return self.compare(spec, node.op, list(node.values))

    def compare(self, spec: FieldSpec, op: str, values: list[Any]) -> Q:
        if op == "in":
            q = Q(**{f"{spec.path}__in": values})
            matches_missing = spec.missing is not None and spec.missing in values
        else:
            value = values[0]
            lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op]
            q = Q(**{f"{spec.path}__{lookup}": value})
            matches_missing = spec.missing is not None and _holds(spec.missing, op, value)
        if matches_missing and spec.relation:
            # No stats or score row yet means zero orders, no score: include those customers.
            q |= Q(**{f"{spec.relation}__isnull": True})
        return q

    def dates(self, path: str, op: str, value: Any, is_datetime: bool, spec: FieldSpec | None) -> Q:
        if isinstance(value, RelativeDate):
            day = value.resolve(self.today)
            if value.amount:
                # "> 90 days ago" reads "more than 90 days ago": older, an earlier date.
                op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)
        else:
            day = value
        if not is_datetime:
            lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op]
            return Q(**{f"{path}__{lookup}": day})
        start = self.start_of(day)
        end = self.start_of(day + dt.timedelta(days=1))
        if op == "=":
            return Q(**{f"{path}__gte": start, f"{path}__lt": end})
        if op == "<":
            return Q(**{f"{path}__lt": start})
        if op == "<=":
            return Q(**{f"{path}__lt": end})
        if op == ">":
            return Q(**{f"{path}__gte": end})
        return Q(**{f"{path}__gte": start})

    def start_of(self, day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min), self.tz)

    def birthday_within(self, days: int) -> Q:
        """Birthdays from today to today + days, by (month, day): index ranges, no functions."""
        if days >= 365:
            return Q(birth_month__isnull=False)
        ranges: dict[int, list[int]] = {}
        for offset in range(days + 1):
            day = self.today + dt.timedelta(days=offset)
            span = ranges.setdefault(day.month, [day.day, day.day])
            span[0], span[1] = min(span[0], day.day), max(span[1], day.day)
            if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
                # Born on 29 February: in other years the birthday is kept on the 28th.
                span[1] = 29
        q = Q()
        for month, (low, high) in sorted(ranges.items()):
            q |= Q(birth_month=month, birth_day__gte=low, birth_day__lte=high)
        return q

    def consent(self, channel: str, states: set[str]) -> Q:
        from clientbase.customers.models import Consent

        rows = Consent.objects.filter(channel=channel)
        if "unknown" in states:
            # No consent row at all means "not asked".
            others = rows.exclude(state__in=states)
            return ~Q(pk__in=others.values("customer_id"))
        return Q(pk__in=rows.filter(state__in=states).values("customer_id"))

    def custom(self, node: Condition) -> Q:
        key = node.field[len("custom.") :]
        path = f"custom_fields__{key}"
        value = node.values[0]
        if isinstance(value, dt.date | RelativeDate):
            day = value.resolve(self.today) if isinstance(value, RelativeDate) else value
            op = node.op
            if isinstance(value, RelativeDate) and value.amount:
                op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)
            lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op]
            return Q(**{f"{path}__{lookup}": day.isoformat()})
        if node.op == "in":
            return Q(**{f"{path}__in": [_json_value(v) for v in node.values]})
        lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[node.op]
        return Q(**{f"{path}__{lookup}": _json_value(value)})


def set_rows(kind: str, values: list[Any]) -> Any:
    """The (value, customer) rows of an interest, bought category or region condition."""
    from clientbase.customers.models import Address, CustomerInterest
    from clientbase.customers.normalize import search_key
    from clientbase.orders.models import CustomerCategory

    if kind == "region":
        # The customer's region is the default address's, as the city is.
        return Address.objects.filter(region__in=[str(v) for v in values], is_default=True)
    # Stored in their search form: case and ё/е do not matter.
    keys = sorted({search_key(str(v))[:200] for v in values})
    model = CustomerInterest if kind == "interest" else CustomerCategory
    return model.objects.filter(key__in=keys)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _holds(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def compile_node(node: Node, *, today: dt.date | None = None) -> Q:
    return _Compiler(today or timezone.localdate()).compile(node)


def compile_query(
    text: str,
    *,
    today: dt.date | None = None,
    custom_fields: Callable[[], dict[str, str]] | None = None,
) -> Q:
    """Text -> a Q over Customer, or SegmentQueryError."""
    return compile_node(parse(text, custom_fields=custom_fields), today=today)


# ---------------------------------------------------------------- the visual builder


def builder_fields() -> list[dict[str, Any]]:
    """The allowlist as the visual builder needs it."""
    rows = []
    for spec in FIELDS:
        rows.append(
            {
                "name": spec.name,
                "label": str(spec.label),
                "type": spec.type,
                "ops": [*spec.ops, *(["within"] if spec.name == "birthday" else [])],
                "choices": [v for v, _label in spec.choices()] if spec.choices else [],
                # The query keeps the codes; people pick by the label in their language.
                "labels": {v: str(label) for v, label in spec.choices()} if spec.choices else {},
            }
        )
    return rows


def builder_rows(node: Node) -> list[dict[str, str]] | None:
    """A flat and/or list of conditions as rows of the visual builder; None if not flat."""
    groups: Sequence[Node] = node.items if isinstance(node, Or) else (node,)
    rows: list[dict[str, str]] = []
    for group in groups:
        conditions = group.items if isinstance(group, And) else (group,)
        for index, condition in enumerate(conditions):
            if not isinstance(condition, Condition):
                return None
            join = "" if not rows else ("and" if index else "or")
            kind = field_type(condition.field)
            values = []
            for value in condition.values:
                text = _render_value(value, kind if kind != "custom" else "text")
                if text.startswith('"'):
                    raw = str(value)
                    if "," in raw or '"' in raw or "\\" in raw:
                        return None
                    text = raw
                values.append(text)
            rows.append(
                {
                    "join": join,
                    "field": condition.field,
                    "op": condition.op,
                    "value": ", ".join(values),
                }
            )
    return rows
