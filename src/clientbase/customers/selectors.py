"""Reads of the customers app: the list with search and filters, the card with its sections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from clientbase.core.pagination import Page, keyset_page
from clientbase.customers.models import (
    LAST_DIGITS,
    Customer,
    CustomerEmail,
    CustomerPhone,
    CustomFieldDefinition,
    Tag,
    TimelineEvent,
)
from clientbase.customers.normalize import (
    normalize_city,
    search_key,
    try_normalize_email,
    try_normalize_phone,
)

# Every sort is one or two columns plus the id, all covered by one index (see
# Customer.Meta.indexes), so a page is an index range scan whatever the size of the base.
SORTS: dict[str, tuple[str, ...]] = {
    "name": ("search_name", "id"),
    "-name": ("-search_name", "-id"),
    "city": ("city", "search_name", "id"),
    "-city": ("-city", "-search_name", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}
DEFAULT_SORT = "name"
PAGE_SIZE = 50
NO_MANAGER = "none"

_PHONE_LIKE = re.compile(r"^[\d\s()+\-.]+$")
# A word that may be the start of an e-mail address (its local part, as people type it).
_EMAIL_START = re.compile(r"^[a-z0-9][a-z0-9._%+\-]*$")
EMAIL_PREFIX_MIN = 3
# Fewer digits than a whole number: the end of a phone (a call centre asks for the last four).
PHONE_END_DIGITS = range(LAST_DIGITS, 10)
# Beyond the last character of any name: `search_name < prefix + _TOP` closes the prefix range.
_TOP = "\uffff"


# A tag with more customers than this is "common"; below it, "rare". Probing costs one index
# range read of at most this many entries: never a COUNT of the whole tag.
TAG_COMMON_THRESHOLD = 2000
# An e-mail start shared by more addresses than this is searched in names only: its matches
# are sorted by name, one random row read each (measured on 1M customers, 6-letter starts:
# p95 12 ms with 1,000, 140 ms with 2,000, 310 ms with 5,000).
EMAIL_START_MAX = 1000


class QueryKind:
    PHONE = "phone"
    PHONE_END = "phone_end"
    EMAIL = "email"
    EMAIL_PREFIX = "email_prefix"
    NAME = "name"
    NAME_OR_EMAIL = "name_or_email"


# Query kinds whose text is personal contact data: never copied into the audit log. A Latin
# word is searched as an e-mail start too, so it counts as one.
CONTACT_KINDS = frozenset(
    {
        QueryKind.PHONE,
        QueryKind.PHONE_END,
        QueryKind.EMAIL,
        QueryKind.EMAIL_PREFIX,
        QueryKind.NAME_OR_EMAIL,
    }
)


@dataclass(frozen=True)
class SearchQuery:
    kind: str
    # Normalised: E.164 phone, the digits a phone ends with, lower-case e-mail (or its
    # start), or a search_key name prefix.
    value: str
    inn: str = ""
    email_prefix: str = ""  # NAME_OR_EMAIL: the word as the start of an e-mail


@dataclass(frozen=True)
class CustomerListParams:
    q: str = ""
    tag: int | None = None
    city: str = ""
    kind: str = ""
    status: str = ""
    manager: str = ""  # a user id, NO_MANAGER, or "" for any
    birth_month: int | None = None
    r: int | None = None  # R score 1-5 of the analytics refresh (a cell of the RFM grid)
    f: int | None = None  # F score 1-5
    sort: str = DEFAULT_SORT

    def filters(self) -> dict[str, Any]:
        """The non-empty filters, without the query text: safe to log or audit."""
        names = ("tag", "city", "kind", "status", "manager", "birth_month", "r", "f")
        return {n: getattr(self, n) for n in names if getattr(self, n) not in (None, "")}


def interpret_query(text: str) -> SearchQuery | None:
    """What the user typed: a phone in any format, an e-mail (or its start), or a name."""
    text = text.strip()
    if not text:
        return None
    if "@" in text:
        email = try_normalize_email(text)
        if email:
            return SearchQuery(QueryKind.EMAIL, email)
        return SearchQuery(QueryKind.EMAIL_PREFIX, text.lower())
    if _PHONE_LIKE.match(text) and any(c.isdigit() for c in text):
        phone = try_normalize_phone(text)
        digits = "".join(c for c in text if c.isdigit())
        if not phone and not text.startswith("+") and len(digits) in PHONE_END_DIGITS:
            return SearchQuery(QueryKind.PHONE_END, digits)
        # Ten or twelve bare digits may as well be a company's INN: match both.
        inn = text if text.isdigit() and len(text) in (10, 12) else ""
        return SearchQuery(QueryKind.PHONE, phone or "", inn=inn)
    name = search_key(text)
    if len(name) >= EMAIL_PREFIX_MIN and _EMAIL_START.match(name):
        return SearchQuery(QueryKind.NAME_OR_EMAIL, name, email_prefix=name)
    return SearchQuery(QueryKind.NAME, name)


def _search_predicate(query: SearchQuery) -> Q | None:
    """An index-friendly predicate for the query, or None when nothing can match."""
    if query.kind == QueryKind.EMAIL:
        return Q(pk__in=CustomerEmail.objects.filter(address=query.value).values("customer_id"))
    if query.kind == QueryKind.EMAIL_PREFIX:
        return Q(pk__in=_email_start(query.value).values("customer_id"))
    if query.kind == QueryKind.PHONE_END:
        # The indexed last four digits narrow to ~1 in 10,000 phones; the rest are compared.
        phones = CustomerPhone.objects.filter(
            last_digits=query.value[-LAST_DIGITS:], number__endswith=query.value
        )
        return Q(pk__in=phones.values("customer_id"))
    if query.kind == QueryKind.NAME_OR_EMAIL:
        return _name_or_email_predicate(query)
    if query.kind == QueryKind.PHONE:
        predicate = Q()
        if query.value:
            phones = CustomerPhone.objects.filter(number=query.value)
            predicate |= Q(pk__in=phones.values("customer_id"))
        if query.inn:
            predicate |= Q(inn=query.inn)
        return predicate or None
    if not query.value:
        return None
    return _name_start(query.value)


def _name_or_email_predicate(query: SearchQuery) -> Q:
    """Names starting with the word, or e-mail addresses starting with it.

    One id list from the two index ranges (UNION), then sorted by name: an OR of the two would
    make the database walk the sort index testing every row when few match. Sorting reads
    each match's row, so an e-mail start shared by more than EMAIL_START_MAX addresses
    ("ale", "alexan") searches names only and the list says to type more
    (email_start_too_common). Walking the sort index and probing each customer's e-mails is
    no cure: e-mails are mostly names, so the matches cluster in name order (measured on 1M
    customers: "zhu" 1.5 s).
    """
    if email_start_too_common(query):
        return _name_start(query.value)
    names = Customer.objects.filter(_name_start(query.value)).order_by().values("pk")
    emails = _email_start(query.email_prefix).order_by().values("customer_id")
    return Q(pk__in=names.union(emails))


def email_start_too_common(query: SearchQuery | None) -> bool:
    """Whether the word is too common an e-mail start to search e-mails by (an index probe
    of EMAIL_START_MAX entries at most, never a COUNT)."""
    if query is None or not query.email_prefix:
        return False
    emails = _email_start(query.email_prefix).order_by().values("pk")
    return emails[EMAIL_START_MAX : EMAIL_START_MAX + 1].exists()


def _name_start(prefix: str) -> Q:
    return Q(search_name__gte=prefix, search_name__lt=prefix + _TOP)


def _email_start(prefix: str) -> QuerySet[CustomerEmail]:
    # A range, not LIKE: SQLite's LIKE is case-insensitive and cannot use the index.
    return CustomerEmail.objects.filter(address__gte=prefix, address__lt=prefix + _TOP)


def customer_list(params: CustomerListParams) -> QuerySet[Customer]:
    """Customers matching the search and filters, unordered (the pager orders them)."""
    queryset = Customer.objects.select_related("manager", "score")
    query = interpret_query(params.q)
    if query is not None:
        predicate = _search_predicate(query)
        if predicate is None:
            return queryset.none()
        queryset = queryset.filter(predicate)
    if params.tag:
        queryset = queryset.filter(_tag_predicate(params.tag))
    if params.city:
        queryset = queryset.filter(city=params.city)
    if params.kind:
        queryset = queryset.filter(kind=params.kind)
    if params.status:
        queryset = queryset.filter(status=params.status)
    if params.manager == NO_MANAGER:
        queryset = queryset.filter(manager__isnull=True)
    elif params.manager:
        queryset = queryset.filter(manager_id=int(params.manager))
    if params.birth_month:
        # Deliberately not indexable: a month holds ~1/12 of all customers, so walking the
        # sort index and skipping the other months finds a page after ~600 rows, while the
        # birthday index would fetch and sort ~80,000 rows per million (measured: 1 ms vs
        # 200 ms on SQLite). "+ 0" keeps the planner from choosing that index.
        queryset = queryset.alias(birth_month_value=F("birth_month") + 0).filter(
            birth_month_value=params.birth_month
        )
    if params.r:
        queryset = queryset.filter(score__r_score=params.r)
    if params.f:
        queryset = queryset.filter(score__f_score=params.f)
    return queryset


def _tag_predicate(tag_id: int) -> Q | Exists:
    """Customers with the tag, in the form the database can page through fastest.

    A rare tag: join from the tag's rows and sort the few customers found. A common tag: walk
    the sort index and probe the (customer, tag) unique index per row, so a page needs about
    page_size * customers / tagged rows, instead of sorting every tagged customer (measured on
    1M customers: a 20-customer tag 0.3 ms vs 760 ms, a 70,000-customer tag 1.5 ms vs 150 ms).
    """
    through = Customer.tags.through
    tagged = through.objects.filter(tag_id=tag_id)
    common = tagged.values("pk")[TAG_COMMON_THRESHOLD : TAG_COMMON_THRESHOLD + 1].exists()
    if common:
        return Exists(tagged.filter(customer_id=OuterRef("pk")))
    return Q(pk__in=tagged.values("customer_id"))


def customer_page(
    params: CustomerListParams, *, after: str = "", before: str = "", size: int = PAGE_SIZE
) -> Page[Customer]:
    """One page of the list with the tags of its rows (one query for the whole page)."""
    order = SORTS.get(params.sort, SORTS[DEFAULT_SORT])
    queryset = customer_list(params).prefetch_related("tags")
    return keyset_page(queryset, order=order, size=size, after=after, before=before)


CITY_SUGGESTIONS = 20


def known_cities(typed: str, *, limit: int = CITY_SUGGESTIONS) -> list[str]:
    """Up to `limit` distinct customer cities starting with what was typed, in order.

    A loose index scan of the city index: each step asks for the least city above the previous
    one, so the cost is `limit` index seeks however many customers live in Москва (a DISTINCT
    would read every one of them).
    """
    prefix = normalize_city(typed)
    table = connection.ops.quote_name(Customer._meta.db_table)
    city = connection.ops.quote_name("city")
    # Only quoted identifiers are formatted into the statement; values are parameters.
    sql = f"""
        WITH RECURSIVE found(name, n) AS (
            SELECT MIN({city}), 1 FROM {table} WHERE {city} > %s AND {city} >= %s AND {city} < %s
            UNION ALL
            SELECT (SELECT MIN({city}) FROM {table} WHERE {city} > found.name AND {city} < %s),
                   found.n + 1
            FROM found WHERE found.name IS NOT NULL AND found.n < %s
        )
        SELECT name FROM found WHERE name IS NOT NULL
    """  # noqa: S608
    top = prefix + _TOP
    with connection.cursor() as cursor:
        cursor.execute(sql, ["", prefix, top, top, limit])
        return [row[0] for row in cursor.fetchall()]


def tags_with_counts() -> QuerySet[Tag]:
    return Tag.objects.annotate(customer_count=Count("customers")).order_by("name")


def customer_card(customer_id: int) -> Customer:
    """The customer with every section of the card loaded in a fixed number of queries."""
    return (
        Customer.objects.select_related("manager", "created_by", "score")
        .prefetch_related("phones", "emails", "addresses", "consents", "tags")
        .get(pk=customer_id)
    )


def customer_timeline(customer: Customer, limit: int = 50) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(customer=customer).select_related("actor")[:limit])


def customer_orders(customer: Customer, limit: int = 20) -> list[Any]:
    from clientbase.orders.models import Order

    return list(Order.objects.filter(customer=customer).order_by("-placed_at", "-id")[:limit])


def custom_field_values(customer: Customer) -> list[tuple[CustomFieldDefinition, Any]]:
    """(definition, value) for every defined field the customer has a value for."""
    values = customer.custom_fields or {}
    return [(d, values[d.key]) for d in CustomFieldDefinition.objects.all() if d.key in values]
