"""The segment language: every field and operator, precedence, dates, birthdays, fuzzing."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientbase.customers.models import Customer
from clientbase.customers.normalize import normalize_city
from clientbase.customers.services import CustomerInput, customer_update
from clientbase.segments.language import (
    FIELDS,
    And,
    Condition,
    Not,
    Or,
    SegmentQueryError,
    builder_rows,
    canonical,
    compile_query,
    describe,
    parse,
)
from clientbase.segments.selectors import segment_count
from tests import factories
from tests.segments.conftest import TODAY


def names(query: str, today: dt.date = TODAY) -> set[str]:
    matched = Customer.objects.filter(compile_query(query, today=today))
    return set(matched.values_list("last_name", flat=True))


# query -> the customers of tests/segments/conftest.py it matches
CASES = [
    ("kind = person", "AC"),
    ("kind != person", "B"),
    ("kind in (company)", "B"),
    ("тип = company", "B"),
    ("status = archived", "B"),
    ("status != archived", "AC"),
    ('city = "Москва"', "A"),
    ("город = 'Казань'", "B"),
    ('city in ("Москва", "Казань")', "AB"),
    ('city not in ("Москва")', "BC"),
    ("gender = female", "A"),
    ("gender = unknown", "C"),
    ("пол in (male, female)", "AB"),
    ("source = website", "A"),
    ("source in (phone, manual)", "BC"),
    ('manager = "mgr"', "A"),
    ("manager = mgr", "A"),
    ("manager = none", "BC"),
    ('manager != "mgr"', "BC"),
    ("vip = true", "A"),
    ("vip", "A"),
    ("not vip", "BC"),
    ("vip = нет", "BC"),
    ("created >= 2026-01-01", "AC"),
    ("created < 2026-01-10", "B"),
    ("created = 2026-01-10", "A"),
    ("created <= 2026-01-10", "AB"),
    ("created > 2026-01-10", "C"),
    ("created < 30 days ago", "C"),
    ("created > 60 days ago", "AB"),
    ("created > 2 months ago", "AB"),
    ("создан < 6 months ago", "AC"),
    ("created < 1 year ago", "ABC"),
    ("created = today", ""),
    ("birthday = 1990-05-10", "A"),
    ("birthday < 1995-01-01", "A"),
    ("birthday >= 2000-01-01", "BC"),
    ("birth_month = 12", "B"),
    ("birthday in month 5", "A"),
    ("birth_month in (2, 5)", "AC"),
    ("birthday within 366 days", "ABC"),
    ('tag = "Скидки"', "A"),
    ('tag != "Скидки"', "BC"),
    ('tag in ("Скидки", "VIP")', "AB"),
    ('тег not in ("VIP")', "AC"),
    ('tag = "нет такого"', ""),
    ('interest = "спорт"', "AB"),
    ('interest = "КУЛИНАРИЯ"', "A"),
    ('интерес != "Спорт"', "C"),
    ('interest in ("кулинария", "нет такого")', "A"),
    ('category = "Кухня"', "B"),
    ('category in ("Сад", "кухня")', "AB"),
    ('категория != "Сад"', "BC"),
    ('region = "Московская область"', "A"),
    ('регион in ("Республика Татарстан")', "B"),
    ('region != "Московская область"', "BC"),
    ('city = "Москва" and interest = "спорт"', "A"),
    ('kind = company and (category = "кухня" or vip)', "B"),
    ('kind = person and not (region = "Московская область" or interest = "спорт")', "C"),
    ("has_email = true", "A"),
    ("has_email", "A"),
    ("has_phone = false", "C"),
    ("has_phone", "AB"),
    ("email_consent = granted", "A"),
    ("email_consent = unknown", "BC"),
    ("sms_consent = withdrawn", "B"),
    ("sms_consent in (unknown, granted)", "AC"),
    ("sms_consent != withdrawn", "AC"),
    ("orders >= 3", "A"),
    ("orders < 1", "C"),
    ("orders = 0", "C"),
    ("orders != 0", "AB"),
    ("заказы > 0", "AB"),
    ("orders in (0, 1)", "BC"),
    ("orders <= 5", "ABC"),
    ("delivered = 0", "BC"),
    ("revenue > 1000", "A"),
    ("revenue <= 100", "BC"),
    ("revenue >= 99.5", "AB"),
    ("aov >= 100", "AB"),
    ("first_order < 2025-06-01", "A"),
    ("last_order > 2025-12-25", "A"),
    ("last_order > 60 days ago", "AB"),
    ("last_order < 80 days ago", "A"),
    ("last_order >= 2025-12-20", "AB"),
    ("refusals >= 1", "B"),
    ("refusals = 0", "AC"),
    ("rfm = champions", "A"),
    ("rfm in (champions, at_risk)", "AB"),
    ("rfm = no_orders", "C"),
    ("rfm != champions", "BC"),
    ("r = 5", "A"),
    ("f < 2", "BC"),
    ("m >= 1", "AB"),
    ("p_alive < 0.3", "B"),
    ("p_alive >= 0.3", "A"),
    ("expected_purchases > 1", "A"),
    ("expected_value >= 100", "A"),
    ("clv > 100", "A"),
    ("clv <= 100", "B"),
    ("importance = vip", "A"),
    ("importance >= normal", "AC"),
    ("importance = low", "B"),
    ("importance < high", "BC"),
    ("custom.shoe = 42", "A"),
    ("custom.shoe > 40", "A"),
    ("custom.shoe < 40", "B"),
    ('custom.note = "x"', "A"),
    ("custom.note in (x, y)", "AB"),
    ("custom.since < 2021-01-01", "A"),
    ("custom.since > 2021-01-01", "B"),
    ("custom.opt = true", "A"),
    ("custom.opt = false", "B"),
    ("поле.shoe >= 38.5", "AB"),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _e in CASES])
def test_every_field_and_operator(people, query, expected):
    assert names(query) == set(expected)


def _first_condition(node):
    while not isinstance(node, Condition):
        node = node.item if isinstance(node, Not) else node.items[0]
    return node


def test_every_documented_field_has_a_case():
    plain = [q for q, _e in CASES if not q.startswith(("custom", "поле"))]
    tested = {_first_condition(parse(q, custom_fields=dict)).field for q in plain}
    assert {f.name for f in FIELDS} <= tested


def test_the_issue_example_compiles_and_runs(people):
    query = (
        'kind = person and city = "Москва" and tag = "Скидки" and orders >= 3 and '
        "last_order > 30 days ago and rfm in (champions, loyal) and p_alive > 0.3 and "
        "birthday within 60 days"
    )
    assert names(query, today=dt.date(2026, 3, 20)) == {"A"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind = person or kind = company and city = 'Москва'", "AC"),
        ("(kind = person or kind = company) and city = 'Москва'", "A"),
        ("not kind = person or vip", "AB"),
        ("not (kind = person or vip)", "B"),
        ("NOT vip AND orders >= 1", "B"),
        ("не вип и заказы >= 1 или город = 'Москва'", "AB"),
        ("kind = person and (orders = 0 or rfm = champions) and not tag = 'VIP'", "AC"),
        ("((((vip))))", "A"),
        ("not not vip", "A"),
    ],
)
def test_precedence_and_parentheses(people, query, expected):
    assert names(query) == set(expected)


@pytest.mark.parametrize(
    ("today", "days", "born"),
    [
        (dt.date(2026, 12, 28), 7, {(12, 30), (1, 1), (1, 2)}),
        (dt.date(2026, 12, 29), 2, {(12, 30)}),
        (dt.date(2026, 12, 31), 1, {(1, 1)}),
        (dt.date(2027, 2, 25), 3, {(2, 28), (2, 29)}),
        (dt.date(2028, 2, 27), 1, {(2, 28)}),
        (dt.date(2028, 2, 27), 2, {(2, 28), (2, 29)}),
        (dt.date(2026, 2, 28), 0, {(2, 28), (2, 29)}),
        (dt.date(2026, 3, 1), 0, {(3, 1)}),
    ],
)
def test_birthday_within_across_new_year_and_29_february(db, today, days, born):
    dates = [(12, 30), (1, 1), (1, 2), (2, 28), (2, 29), (3, 1), (3, 10)]
    by_day = {}
    for month, day in dates:
        customer = factories.make_customer(last_name=f"{month}-{day}")
        Customer.objects.filter(pk=customer.pk).update(birth_month=month, birth_day=day)
        by_day[(month, day)] = customer.pk
    matched = set(
        Customer.objects.filter(
            compile_query(f"birthday within {days} days", today=today)
        ).values_list("pk", flat=True)
    )
    assert matched == {by_day[d] for d in born}


def test_customers_without_stats_or_score_rows(people):
    assert names("orders < 1 and rfm = no_orders and importance = normal") == {"C"}
    assert names("p_alive < 1") == {"A", "B"}  # unknown is not "below"
    assert names("not p_alive < 1") == {"C"}
    assert names("last_order < 1000 days ago or orders = 0") == {"A", "B", "C"}


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("foo = 1", 0, "Unknown field “foo” at position 1; known fields: kind"),
        ("kind = person and foo = 1", 18, "Unknown field “foo”"),
        ("orders >= ", 10, "Expected a number after “>=” at position 11"),
        ("orders >= abc", 10, "Expected a number after “>=”"),
        ('city = "Москва', 7, "Unclosed quote"),
        ("(vip or has_email", 0, "Unclosed parenthesis"),
        ("vip)", 3, "Unmatched closing parenthesis"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("kind = persn", 7, "Unknown value “persn”"),
        ("kind > person", 5, "does not take “>”"),
        ("orders >= 1.5", 10, "whole number"),
        ("created > 2026-02-30", 10, "not a real date"),
        ("created > 90 parsecs ago", 13, "days, weeks, months or years"),
        ("created > 90 days", 17, "“ago”"),
        ("birthday within 400 days", 16, "from 0 to 366"),
        ("city = 'x' city = 'y'", 11, "“and”, “or”"),
        ("custom.nope = 1", 0, "Unknown custom field “nope”"),
        ("rfm in (champions", 7, "Unclosed parenthesis"),
        ("city = x'", 8, "Unclosed quote"),
        ("orders >= 99999999999999999999", 10, "too large"),
        ("city # 'x'", 5, "Unexpected character “#”"),
        ("vip =", 5, "true or false"),
        ("tag in 'x'", 7, "“(”"),
    ],
)
def test_errors_say_what_and_where(db, query, position, words):
    with pytest.raises(SegmentQueryError) as info:
        compile_query(query, today=TODAY)
    assert info.value.position == position
    assert words in info.value.message


# ---------------------------------------------------------------- safety


def test_the_compiler_produces_only_q_objects_and_parameters(people):
    q = compile_query("city = \"x' OR 1=1 --\" or tag = 'a\"); DROP TABLE x; --'", today=TODAY)
    assert isinstance(q, Q)
    queryset = Customer.objects.filter(q)
    sql, params = queryset.query.sql_with_params()
    assert "OR 1=1" not in sql
    # The city is compared in its stored form (normalize_city), still as a parameter.
    assert normalize_city("x' OR 1=1 --") in params
    assert queryset.count() == 0
    assert names("city = \"Москва' OR '1'='1\"") == set()


def test_custom_field_keys_come_from_definitions_only(people):
    with pytest.raises(SegmentQueryError):
        compile_query("custom.shoe') or 1=1 -- = 1")


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    "query", [q for q, _e in CASES] + ["not (vip or orders > 1) and city = 'a\"b'"]
)
def test_describe_round_trips(people, query):
    text = canonical(query)
    assert canonical(text) == text
    assert names(text) == names(query)


def test_builder_rows_for_flat_queries_only(db):
    rows = builder_rows(parse("kind = person and city = 'Москва' or tag in (a, b)"))
    assert rows == [
        {"join": "", "field": "kind", "op": "=", "value": "person"},
        {"join": "and", "field": "city", "op": "=", "value": "Москва"},
        {"join": "or", "field": "tag", "op": "in", "value": "a, b"},
    ]
    assert builder_rows(parse("not vip")) is None
    assert builder_rows(parse("vip and (orders > 1 or orders = 0)")) is None


def test_ast_shapes(db):
    node = parse("vip or not has_email and orders > 1")
    assert isinstance(node, Or)
    assert isinstance(node.items[1], And)
    assert isinstance(node.items[1].items[0], Not)
    assert node.items[0] == Condition("vip", "=", (True,), 0)
    assert describe(node) == "vip = true or not has_email = true and orders > 1"


# ---------------------------------------------------------------- fuzzing

WORDS = [
    "kind",
    "city",
    "tag",
    "orders",
    "last_order",
    "rfm",
    "p_alive",
    "birthday",
    "vip",
    "created",
    "importance",
    "manager",
    "custom.shoe",
    "and",
    "or",
    "not",
    "in",
    "within",
    "days",
    "ago",
    "month",
    "person",
    "champions",
    "true",
    "нет",
    "город",
    "и",
    "или",
    "today",
    "none",
    "high",
]
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "(", ")", ",", "<>"]),
    st.integers(-5, 10**15).map(str),
    st.floats(0, 2, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.dates().map(lambda d: d.isoformat()),
    st.text(max_size=8).map(lambda t: '"' + t.replace('"', "") + '"'),
    st.text(string.printable, max_size=4),
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _compile_or_clear_error(text: str) -> None:
    try:
        q = compile_query(text, today=TODAY)
    except SegmentQueryError as exc:
        assert 0 <= exc.position <= len(text)
        assert exc.message
        return
    assert isinstance(q, Q)
    Customer.objects.filter(q).count()
    # A query that compiles also round-trips through its canonical text.
    assert canonical(canonical(text)) == canonical(text)


@FUZZ
@given(text=st.text(max_size=80))
def test_random_text_compiles_or_fails_clearly(people, text):
    _compile_or_clear_error(text)


@FUZZ
@given(tokens=st.lists(TOKENS, max_size=14))
def test_random_token_sequences_compile_or_fail_clearly(people, tokens):
    _compile_or_clear_error(" ".join(tokens))


@FUZZ
@given(
    field=st.sampled_from([f.name for f in FIELDS]),
    op=st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in"]),
    value=st.one_of(
        st.sampled_from(["person", "champions", "true", "none", "low", "today", "2026-01-31"]),
        st.integers(-(10**13), 10**13).map(str),
        st.sampled_from(["90 days ago", "3 months ago", "2 years ago", "1 week ago"]),
        st.text(max_size=10).map(lambda t: '"' + t.replace('"', "").replace("\\", "") + '"'),
    ),
)
def test_random_conditions_compile_or_fail_clearly(people, field, op, value):
    text = f"{field} {op} ({value})" if "in" in op else f"{field} {op} {value}"
    _compile_or_clear_error(text)


def test_the_examples_of_the_reference_compile(db):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "segments.md").read_text()
    section = text.split("## Examples", 1)[1].split("##", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    queries = [cell.strip().strip("`") for row in rows for cell in row.strip("|").split("|")]
    assert len(queries) == 18
    for query in queries:
        compile_query(query, today=TODAY)


def test_errors_are_translated(db):
    from django.utils import translation

    with translation.override("ru"), pytest.raises(SegmentQueryError) as info:
        compile_query("город = 'x' and foo = 1")
    assert info.value.message.startswith("Неизвестное поле «foo» в позиции 17")


def test_an_or_of_indexed_sets_inside_an_and_matches_exactly(db):
    """`kind = company and (tag = X or vip)` compiles the OR as id sets: the same customers."""
    from clientbase.segments.selectors import segment_count

    expected_ids = {}
    for kind in ("company", "person"):
        for tags in ([], ["VIP"], ["Скидки"], ["VIP", "Скидки"]):
            for vip in (False, True):
                customer = factories.make_customer(phones=[], tags=tags)
                Customer.objects.filter(pk=customer.pk).update(kind=kind, vip=vip, city="Казань")
                expected_ids[customer.pk] = (kind, set(tags), vip)

    def expect(predicate) -> set[int]:
        return {pk for pk, (kind, tags, vip) in expected_ids.items() if predicate(kind, tags, vip)}

    def ids(query: str) -> set[int]:
        q = compile_query(query, today=TODAY)
        return set(Customer.objects.filter(q).values_list("pk", flat=True))

    cases = [
        (
            'kind = company and (tag = "VIP" or vip)',
            lambda k, t, v: k == "company" and ("VIP" in t or v),
        ),
        (
            'kind = company and (tag in ("VIP", "Скидки") or vip)',
            lambda k, t, v: k == "company" and (bool(t) or v),
        ),
        (
            'city = "Казань" and (tag = "VIP" or vip = false or kind = person)',
            lambda k, t, v: "VIP" in t or not v or k == "person",
        ),
        (
            'kind = company and not (tag = "VIP" or vip)',
            lambda k, t, v: k == "company" and "VIP" not in t and not v,
        ),
        ('kind = person and (tag = "нет такого" or vip)', lambda k, t, v: k == "person" and v),
    ]
    for query, predicate in cases:
        want = expect(predicate)
        assert want and ids(query) == want, query
        # Counted once each, however many of the OR's sets a customer is in.
        assert segment_count(query, today=TODAY) == len(want), query
    # The OR became `pk IN (…) OR pk IN (…)`: no probe of the tag per customer.
    sql = str(Customer.objects.filter(compile_query(cases[0][0], today=TODAY)).query)
    assert "EXISTS" not in sql.upper()


def test_interests_follow_the_card(db):
    """Editing a card's interests (form, API: customer_update) moves it between segments."""
    customer = factories.make_customer(interests=["Рыбалка", "Ёлки"])

    def matching(query: str) -> set[int]:
        return set(Customer.objects.filter(compile_query(query)).values_list("pk", flat=True))

    assert matching('interest = "рыбалка"') == matching('interest = "елки"') == {customer.pk}
    customer_update(
        actor=None,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"interests": ["Йога"]}),
    )
    assert matching('interest in ("рыбалка", "ёлки")') == set()
    assert matching('interest = "Йога"') == {customer.pk}


@pytest.mark.parametrize(
    "query",
    [
        'interest = "спорт"',
        'interest in ("Кулинария", "спорт", "нет такого")',
        'category = "КУХНЯ"',
        'region in ("Московская область", "Республика Татарстан")',
        'region = "нет такого"',
    ],
)
def test_counting_a_set_field_alone_counts_its_rows(people, query):
    """segment_count reads interest, category and region rows alone: the same numbers."""
    assert segment_count(query) == len(names(query))
