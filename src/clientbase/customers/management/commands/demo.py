"""`clientbase demo`: a realistic Russian shop base (customers, orders), fast enough for 1M rows.

Rows are written in batches with executemany (see FastRows), never one query per row.
Derived columns are filled by customers.services.customer_derive() and from the related
rows, exactly as the services would; each batch of orders refreshes its customers' statistics
(orders.services.customer_stats_refresh_many) in the batch's transaction. Each demo customer
gets one "created" timeline event; no audit rows are written for demo data (it is not a staff
action), and demo staff passwords are never shown.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Generic, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core.formatting import format_number
from clientbase.customers.choices import (
    ConsentChannel,
    ConsentState,
    CustomerKind,
    CustomerStatus,
    DocumentType,
    Gender,
    PhoneKind,
    TimelineKind,
)
from clientbase.customers.management.commands import _demo_data as data
from clientbase.customers.models import (
    Address,
    Consent,
    Customer,
    CustomerEmail,
    CustomerInterest,
    CustomerPhone,
    Tag,
    TimelineEvent,
)
from clientbase.customers.normalize import validate_bank_account
from clientbase.customers.services import customer_derive, interest_keys
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod
from clientbase.orders.models import Order, OrderItem, OrderStatusChange, local_day
from clientbase.orders.services import customer_stats_refresh_many

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)

DEFAULT_BATCH = 20000
# From this many customers into an empty table, list indexes are built after the load.
DEFER_INDEXES_FROM = 100_000
# Statement size on PostgreSQL; SQLite splits by its own variable limit anyway.
INSERT_BATCH = 1000
# Prime, so coprime with the number space (codes x 10**7): index -> phone is a bijection and
# consecutive customers get unrelated numbers.
PHONE_STEP = 2654435761
SECOND_PHONE_OFFSET = 10**8
CENT = Decimal("0.01")

DEMO_STAFF = (
    ("manager", Role.MANAGER, "Анна", "Смирнова"),
    ("operator", Role.OPERATOR, "Олег", "Кузнецов"),
    ("marketer", Role.MARKETER, "Мария", "Волкова"),
)

CARD_CHAIN = (
    OrderStatus.NEW,
    OrderStatus.PAID,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)
COD_CHAIN = (OrderStatus.NEW, OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
# Hours from the previous status to this one: (min, max).
STEP_HOURS = {
    OrderStatus.PAID: (0.05, 2),
    OrderStatus.CONFIRMED: (0.5, 20),
    OrderStatus.SHIPPED: (12, 60),
    OrderStatus.DELIVERED: (24, 150),
}


class Weighted:
    """Weighted choice by bisecting cumulative weights: fast and deterministic per seed."""

    def __init__(self, items: Sequence[tuple[Any, float]]):
        self.values = [v for v, _w in items]
        self.cumulative = list(itertools.accumulate(w for _v, w in items))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


# Field types whose Python value the database driver takes as it is.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.SlugField,
    models.BooleanField,
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.AutoField,
    models.BigAutoField,
    models.ForeignKey,
)


class FastRows(Generic[M]):
    """Unsaved instances built fast, inserted with executemany under ids reserved up front.

    At a million rows bulk_create's SQL compiler costs several times what SQLite itself
    does; this writes the same columns through the same field conversions, minus the
    compiler. auto_now fields are not stamped here: the demo sets spread-out times itself.
    """

    def __init__(self, model: type[M], *, using: str = "default"):
        self.model = model
        self.connection = connections[using]
        # Generated columns are computed by the database and cannot be inserted.
        fields = [f for f in model._meta.concrete_fields if not f.generated]
        self.attnames = [f.attname for f in fields]
        # Defaults computed once; JSON defaults are shared but never mutated, only replaced.
        self.defaults = {f.attname: f.get_default() for f in fields}
        self.pk = model._meta.pk
        self.converters = [self._converter(f) for f in fields]
        quote = self.connection.ops.quote_name
        # Names come from the model's meta data, values go through placeholders.
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
            quote(model._meta.db_table),
            ", ".join(quote(str(f.column)) for f in fields),
            ", ".join(["%s"] * len(fields)),
        )

    def _converter(self, f: models.Field[Any, Any]) -> Callable[[Any], Any]:
        ops = self.connection.ops
        if type(f) in _PLAIN_FIELDS:
            return _same
        if type(f) is models.DateTimeField:
            return ops.adapt_datetimefield_value
        if type(f) is models.DateField:
            return ops.adapt_datefield_value
        return partial(f.get_db_prep_save, connection=self.connection)

    def new(self, **values: Any) -> M:
        row = self.defaults.copy()
        row.update(values)
        # Positional __init__ is Django's fast path: no kwargs matching per field.
        return self.model(*[row[a] for a in self.attnames])

    def insert(self, objs: Sequence[M]) -> None:
        if not objs:
            return
        ids = self._reserve_ids(len(objs))
        for obj, pk in zip(objs, ids, strict=True):
            obj.pk = pk
            obj._state.adding = False
        pairs = list(zip(self.attnames, self.converters, strict=True))
        rows = [tuple(convert(getattr(obj, name)) for name, convert in pairs) for obj in objs]
        with self.connection.cursor() as cursor:
            for part in chunks(rows, INSERT_BATCH):
                cursor.executemany(self.sql, part)

    def insert_values(self, rows: Sequence[dict[str, Any]]) -> Sequence[int]:
        """Insert rows given as {attname: value}, without model instances; returns the ids."""
        if not rows:
            return []
        ids = self._reserve_ids(len(rows))
        pk_name = self.pk.attname
        pairs = list(zip(self.attnames, self.converters, strict=True))
        prepared = []
        for values, pk in zip(rows, ids, strict=True):
            full = self.defaults | values
            full[pk_name] = pk
            prepared.append(tuple(convert(full[name]) for name, convert in pairs))
        with self.connection.cursor() as cursor:
            for part in chunks(prepared, INSERT_BATCH):
                cursor.executemany(self.sql, part)
        return ids

    def _reserve_ids(self, count: int) -> Sequence[int]:
        """Ids nobody else can take: the caller holds a transaction (SQLite: the write lock)."""
        table = self.model._meta.db_table
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [table, self.pk.column, count],
                )
                return [row[0] for row in cursor.fetchall()]
            # SQLite AUTOINCREMENT: above both the highest id and the highest ever used.
            quote = self.connection.ops.quote_name
            cursor.execute(
                f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "  # noqa: S608
                f"COALESCE((SELECT MAX({quote(str(self.pk.column))}) FROM {quote(table)}), 0))",
                [table],
            )
            start = int(cursor.fetchone()[0]) + 1
        return range(start, start + count)


def _same(value: Any) -> Any:
    return value


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- requisites with checksums


def _weighted_digit(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def make_inn10(rng: random.Random) -> str:
    body = rng.choice(data.TAX_REGIONS) + f"{rng.randrange(10**7):07d}"
    return body + _weighted_digit(body, (2, 4, 10, 3, 5, 9, 4, 6, 8))


def make_inn12(rng: random.Random) -> str:
    body = rng.choice(data.TAX_REGIONS) + f"{rng.randrange(10**8):08d}"
    body += _weighted_digit(body, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
    return body + _weighted_digit(body, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))


def make_ogrn(rng: random.Random, *, region: str, year: int) -> str:
    body = f"1{year % 100:02d}{region}{rng.randrange(10**7):07d}"
    return body + str(int(body) % 11 % 10)


def make_ogrnip(rng: random.Random, *, region: str, year: int) -> str:
    body = f"3{year % 100:02d}{region}{rng.randrange(10**9):09d}"
    return body + str(int(body) % 13 % 10)


def make_bank_account(rng: random.Random, bic: str) -> str:
    """A 40702810 settlement account whose control digit (the 9th) matches the BIC."""
    account = list(f"40702810{0}{rng.randrange(10**11):011d}")
    key = bic[-3:] + "".join(account)
    weights = (7, 1, 3) * 8
    total = sum(int(d) * w for d, w in zip(key, weights, strict=False))
    # The 9th digit carries weight 3; 3 * 7 = 21 = 1 (mod 10), so 7 inverts it.
    account[8] = str((7 * (10 - total % 10)) % 10)
    return validate_bank_account("".join(account), bic)


# ---------------------------------------------------------------- the generator


@dataclass
class CustomerPool:
    """What orders need to know about each demo customer, kept compact for a million rows."""

    ids: list[int] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    company: bytearray = field(default_factory=bytearray)
    addresses: list[str] = field(default_factory=list)


@dataclass
class Counts:
    customers: int = 0
    phones: int = 0
    emails: int = 0
    addresses: int = 0
    consents: int = 0
    tags: int = 0
    timeline: int = 0
    orders: int = 0
    items: int = 0
    history: int = 0

    def customer_rows(self) -> int:
        """Rows written for customers: the cards and everything hanging off them."""
        return (
            self.customers
            + self.phones
            + self.emails
            + self.addresses
            + self.consents
            + self.tags
            + self.timeline
        )


class DemoGenerator:
    def __init__(self, *, seed: int, anchor: dt.datetime, first_index: int, first_order: int):
        self.rng = random.Random(seed)  # noqa: S311  (demo data, reproducible by seed)
        self.phone_shift = self.rng.randrange(len(data.MOBILE_CODES) * 10**7)
        self.company_word = ""
        self.anchor = anchor
        self.anchor_ts = anchor.timestamp()
        self.today = anchor.date()
        self.index = first_index
        self.order_number = first_order
        self.used_emails: set[str] = set()
        self.cities = Weighted([(c, c[3]) for c in data.CITIES])
        self.domains = Weighted(data.EMAIL_DOMAINS)
        self.sources = Weighted(data.SOURCES)
        self.stoplist = Weighted([((r, c), w) for r, w, c in data.STOPLIST])
        self.company_forms = Weighted(data.COMPANY_FORMS)
        self.delivery = Weighted(data.DELIVERY_METHODS)
        self.consent_email = Weighted(
            [(ConsentState.GRANTED, 55), (ConsentState.WITHDRAWN, 10), (None, 35)]
        )
        self.consent_sms = Weighted(
            [(ConsentState.GRANTED, 35), (ConsentState.WITHDRAWN, 8), (None, 57)]
        )
        self.person_payment = Weighted(
            [(PaymentMethod.CARD, 58), (PaymentMethod.COD, 38), (PaymentMethod.OTHER, 4)]
        )
        self.order_source = Weighted(
            [
                (OrderSource.WEBSITE, 60),
                (OrderSource.MARKETPLACE, 20),
                (OrderSource.PHONE, 15),
                (OrderSource.OTHER, 5),
            ]
        )
        self.item_count = Weighted([(1, 55), (2, 25), (3, 12), (4, 8)])
        self.through = Customer.tags.through
        self.customer_rows = FastRows(Customer)
        self.phone_rows = FastRows(CustomerPhone)
        self.email_rows = FastRows(CustomerEmail)
        self.address_rows = FastRows(Address)
        self.consent_rows = FastRows(Consent)
        self.tag_rows = FastRows(self.through)
        self.timeline_rows = FastRows(TimelineEvent)
        self.interest_rows = FastRows(CustomerInterest)
        self.order_rows = FastRows(Order)
        self.item_rows = FastRows(OrderItem)
        self.history_rows = FastRows(OrderStatusChange)

    # -------------------------------------------------- contact data

    def phone(self, index: int) -> str:
        codes = data.MOBILE_CODES
        value = (index * PHONE_STEP + self.phone_shift) % (len(codes) * 10**7)
        return f"+7{codes[value // 10**7]}{value % 10**7:07d}"

    def email(self, first: str, last: str, birthday: dt.date | None) -> str:
        rng = self.rng
        first_l, last_l = data.translit(first), data.translit(last)
        year = f"{birthday.year % 100:02d}" if birthday else str(rng.randrange(10, 99))
        local = rng.choice(
            (
                f"{first_l}.{last_l}",
                f"{last_l}.{first_l}",
                f"{first_l[0]}.{last_l}",
                f"{last_l}{year}",
                f"{first_l}{last_l}{year}",
                f"{first_l}_{last_l}",
                f"{last_l}_{first_l[0]}",
            )
        )
        return self._unique_email(local, self.domains.pick(rng))

    def _unique_email(self, local: str, domain: str) -> str:
        address = f"{local}@{domain}"
        while address in self.used_emails:
            address = f"{local}{self.rng.randrange(1, 10000)}@{domain}"
        self.used_emails.add(address)
        return address

    def address(self) -> tuple[str, str, str, str]:
        """City, region, postal code, street line."""
        rng = self.rng
        city, region, postal_prefixes, _weight = self.cities.pick(rng)
        postal = rng.choice(postal_prefixes) + f"{rng.randrange(1000):03d}"
        line = f"{rng.choice(data.STREETS)}, д. {rng.randint(1, 120)}"
        if rng.random() < 0.2:
            line += f", корп. {rng.randint(1, 4)}"
        if rng.random() < 0.85:
            line += f", кв. {rng.randint(1, 400)}"
        return city, region, postal, line

    def moment_between(self, start_ts: float, end_ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(
            self.rng.uniform(start_ts, max(start_ts, end_ts)), tz=dt.UTC
        )

    # -------------------------------------------------- customers

    def customers(
        self, count: int, *, tags: dict[str, Tag], manager: User | None, pool: CustomerPool | None
    ) -> Counts:
        rng = self.rng
        customers: list[Customer] = []
        per_customer: list[dict[str, Any]] = []
        three_years = 3 * 365 * 86400
        for _row in range(count):
            index = self.index
            self.index += 1
            # Recent customers are more numerous: a shop grows.
            created = self.moment_between(
                self.anchor_ts - three_years * (1 - rng.random() ** 0.6), self.anchor_ts
            )
            is_company = rng.random() < 0.10
            male = rng.random() < 0.47
            first = rng.choice(data.MALE_FIRST_NAMES if male else data.FEMALE_FIRST_NAMES)
            last_male = rng.choice(data.LAST_NAMES)
            last = last_male if male else data.russian_female_surname(last_male)
            middle = ""
            if rng.random() < 0.9:
                middle = rng.choice(data.PATRONYMICS)[0 if male else 1]
            birthday = None
            if not is_company and rng.random() < 0.85:
                birthday = self.today - dt.timedelta(days=rng.randint(18 * 365, 75 * 365))
            customer = self.customer_rows.new(
                kind=CustomerKind.COMPANY if is_company else CustomerKind.PERSON,
                last_name=last,
                first_name=first,
                middle_name=middle,
                gender=Gender.MALE if male else Gender.FEMALE,
                birthday=birthday,
                source=self.sources.pick(rng),
                status=CustomerStatus.ACTIVE,
                created_at=created,
                updated_at=created,
                version=1,
            )
            extra: dict[str, Any] = {"tags": []}
            if is_company:
                self._company(customer, created)
            if rng.random() < 0.012:
                (reason, comments) = self.stoplist.pick(rng)
                customer.status = CustomerStatus.STOPLISTED
                customer.stoplist_reason = reason
                customer.stoplist_comment = comments[2 if is_company else 0 if male else 1]
                customer.stoplisted_at = self.moment_between(created.timestamp(), self.anchor_ts)
            elif rng.random() < 0.02:
                customer.status = CustomerStatus.ARCHIVED
            if manager is not None and rng.random() < (0.9 if is_company else 0.2):
                customer.manager_id = manager.pk
            if rng.random() < 0.35:
                customer.interests = rng.sample(data.INTERESTS, rng.randint(1, 3))
            if rng.random() < 0.05:
                customer.notes = rng.choice(data.NOTES)
            if not is_company and rng.random() < 0.04:
                customer.document_type = DocumentType.PASSPORT_RU
                customer.document_number = (
                    f"{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randrange(10**6):06d}"
                )
            # Contacts.
            customer.primary_phone = self.phone(index)
            extra["phones"] = [(customer.primary_phone, PhoneKind.MOBILE, True)]
            if rng.random() < 0.05:
                kind = PhoneKind.WORK if is_company or rng.random() < 0.5 else PhoneKind.HOME
                extra["phones"].append((self.phone(SECOND_PHONE_OFFSET + index), kind, False))
            if is_company:
                customer.primary_email = self._unique_email(
                    rng.choice(("info", "zakaz", "office", "snab", "buh")),
                    data.translit(self.company_word) + ".ru",
                )
            else:
                customer.primary_email = self.email(first, last, birthday)
            extra["addresses"] = []
            if rng.random() < 0.85:
                city, region, postal, line = self.address()
                customer.city = city
                extra["addresses"].append(
                    (
                        "" if rng.random() < 0.6 else rng.choice(data.ADDRESS_LABELS),
                        city,
                        region,
                        postal,
                        line,
                        rng.choice(data.COURIER_COMMENTS) if rng.random() < 0.15 else "",
                        True,
                    )
                )
                if rng.random() < 0.1:
                    city2, region2, postal2, line2 = self.address()
                    extra["addresses"].append(
                        (rng.choice(data.ADDRESS_LABELS), city2, region2, postal2, line2, "", False)
                    )
            consents = []
            for channel, states in (
                (ConsentChannel.EMAIL, self.consent_email),
                (ConsentChannel.SMS, self.consent_sms),
            ):
                state = states.pick(rng)
                if state is not None:
                    consents.append(
                        (
                            channel,
                            state,
                            self.moment_between(created.timestamp(), self.anchor_ts),
                            rng.choice(data.CONSENT_SOURCES[state]),
                        )
                    )
            extra["consents"] = consents
            for name, _color, person_share, company_share in data.TAGS:
                if rng.random() < (company_share if is_company else person_share):
                    extra["tags"].append(tags[name].pk)
            customer_derive(customer)
            customers.append(customer)
            per_customer.append(extra)
        return self._write_customers(customers, per_customer, pool)

    def _company(self, customer: Customer, created: dt.datetime) -> None:
        rng = self.rng
        form = self.company_forms.pick(rng)
        region = rng.choice(data.TAX_REGIONS)
        year = rng.randint(2005, created.year)
        if form == "ИП":
            customer.company_name = f"ИП {customer.last_name} {customer.first_name[0]}." + (
                f" {customer.middle_name[0]}." if customer.middle_name else ""
            )
            self.company_word = data.translit(customer.last_name) + "-shop"
            customer.inn = make_inn12(rng)
            customer.ogrn = make_ogrnip(rng, region=region, year=year)
        else:
            self.company_word = rng.choice(data.COMPANY_WORDS)
            word = self.company_word + rng.choice(data.COMPANY_SUFFIXES)
            customer.company_name = f"{form} «{word}»"
            customer.inn = make_inn10(rng)
            customer.kpp = f"{customer.inn[:4]}01001"
            customer.ogrn = make_ogrn(rng, region=region, year=year)
        customer.bank_bic = rng.choice(data.BANK_BICS)
        customer.bank_account = make_bank_account(rng, customer.bank_bic)
        city, _region, postal, line = self.address()
        customer.legal_address = (
            f"{postal}, г. {city}, {line.split(', кв.')[0]}, офис {rng.randint(1, 50)}"
        )

    def _write_customers(
        self,
        customers: list[Customer],
        per_customer: list[dict[str, Any]],
        pool: CustomerPool | None,
    ) -> Counts:
        counts = Counts(customers=len(customers))
        with transaction.atomic():
            self.customer_rows.insert(customers)
            phones, emails, addresses, consents, tag_rows, timeline = [], [], [], [], [], []
            interests = []
            for customer, extra in zip(customers, per_customer, strict=True):
                cid = customer.pk
                interests.extend(
                    {"customer_id": cid, "key": key} for key in interest_keys(customer.interests)
                )
                for number, kind, primary in extra["phones"]:
                    phones.append(
                        {"customer_id": cid, "number": number, "kind": kind, "is_primary": primary}
                    )
                emails.append(
                    {"customer_id": cid, "address": customer.primary_email, "is_primary": True}
                )
                for label, city, region, postal, line, comment, default in extra["addresses"]:
                    addresses.append(
                        {
                            "customer_id": cid,
                            "label": label,
                            "city": city,
                            "region": region,
                            "postal_code": postal,
                            "line": line,
                            "comment": comment,
                            "is_default": default,
                        }
                    )
                for channel, state, changed_at, source in extra["consents"]:
                    consents.append(
                        {
                            "customer_id": cid,
                            "channel": channel,
                            "state": state,
                            "changed_at": changed_at,
                            "source": source,
                        }
                    )
                for tag_id in extra["tags"]:
                    tag_rows.append({"customer_id": cid, "tag_id": tag_id})
                timeline.append(
                    {
                        "customer_id": cid,
                        "kind": TimelineKind.CREATED,
                        "at": customer.created_at,
                        "data": {"source": "demo"},
                    }
                )
                if pool is not None:
                    pool.ids.append(cid)
                    pool.created.append(customer.created_at.timestamp())
                    pool.company.append(customer.kind == CustomerKind.COMPANY)
                    pool.addresses.append(_address_text(extra["addresses"]))
            self.phone_rows.insert_values(phones)
            self.email_rows.insert_values(emails)
            self.address_rows.insert_values(addresses)
            self.consent_rows.insert_values(consents)
            self.tag_rows.insert_values(tag_rows)
            self.timeline_rows.insert_values(timeline)
            self.interest_rows.insert_values(interests)
        counts.phones, counts.emails, counts.addresses = len(phones), len(emails), len(addresses)
        counts.consents, counts.tags, counts.timeline = len(consents), len(tag_rows), len(timeline)
        return counts

    # -------------------------------------------------- orders

    def orders(self, count: int, *, pool: CustomerPool, staff: dict[str, User]) -> Counts:
        rng = self.rng
        orders: list[dict[str, Any]] = []
        items_per_order: list[list[dict[str, Any]]] = []
        history_per_order: list[list[tuple[str, dt.datetime]]] = []
        two_years_ago = self.anchor_ts - 730 * 86400
        size = len(pool.ids)
        for _row in range(count):
            # A few loyal customers place many orders; many place one or none.
            slot = min(size - 1, int(size * rng.random() ** 2.2))
            is_company = bool(pool.company[slot])
            placed = self.moment_between(
                max(pool.created[slot], two_years_ago), self.anchor_ts - 600
            )
            if is_company:
                payment = PaymentMethod.INVOICE if rng.random() < 0.7 else PaymentMethod.CARD
                source = OrderSource.PHONE if rng.random() < 0.5 else OrderSource.WEBSITE
            else:
                payment = self.person_payment.pick(rng)
                source = self.order_source.pick(rng)
            items, subtotal = self._items(is_company)
            history = self._history(placed, payment)
            status = history[-1][0]
            coupon, discount = "", Decimal("0")
            if not is_company and rng.random() < 0.12:
                coupon = rng.choice(data.COUPONS)
                discount = (
                    Decimal("500")
                    if coupon == "FRIEND500"
                    else (subtotal * Decimal(rng.choice((5, 10, 15))) / 100).quantize(CENT)
                )
                discount = min(discount, subtotal)
            address = pool.addresses[slot] if slot < len(pool.addresses) else ""
            delivery_method = self.delivery.pick(rng)
            if not address:
                delivery_method = "Самовывоз из магазина"
            if delivery_method == "Самовывоз из магазина" or subtotal >= 3000:
                delivery_cost = Decimal("0")
            else:
                delivery_cost = Decimal("390") if delivery_method == "Курьер" else Decimal("249")
            # Orders go to managers only (as orders.services does): the operator takes the
            # call, the manager handles the order.
            manager = None
            if is_company or source == OrderSource.PHONE:
                manager = staff.get("manager")
            delivered_at = next((at for s, at in history if s == OrderStatus.DELIVERED), None)
            orders.append(
                {
                    "source": source,
                    "external_id": str(self.order_number),
                    "customer_id": pool.ids[slot],
                    "placed_at": placed,
                    "placed_day": local_day(placed),
                    "status": status,
                    "currency": "RUB",
                    "subtotal": subtotal,
                    "discount": discount,
                    "delivery_cost": delivery_cost,
                    "total": subtotal - discount + delivery_cost,
                    "payment_method": payment,
                    "delivery_method": delivery_method,
                    "address": address if delivery_method != "Самовывоз из магазина" else "",
                    "promised_delivery": (placed + dt.timedelta(days=rng.randint(2, 6))).date(),
                    "delivered_at": delivered_at,
                    "coupon": coupon,
                    "manager_id": manager.pk if manager else None,
                    "created_at": placed,
                    "updated_at": history[-1][1],
                }
            )
            self.order_number += 1
            items_per_order.append(items)
            history_per_order.append(history)
        return self._write_orders(orders, items_per_order, history_per_order)

    def _items(self, is_company: bool) -> tuple[list[dict[str, Any]], Decimal]:
        rng = self.rng
        items = []
        subtotal = Decimal("0")
        for product_index in rng.sample(range(len(data.CATALOGUE)), self.item_count.pick(rng)):
            category, name, base = data.CATALOGUE[product_index]
            # Prices drift over two years and with promotions; shops end prices in 90 or 99.
            price = int(base * Decimal(str(round(rng.uniform(0.85, 1.1), 2))) / 10) * 10
            if rng.random() < 0.3:
                price -= 1
            quantity = rng.randint(5, 40) if is_company else (1 if rng.random() < 0.85 else 2)
            value = Decimal(price)
            if is_company:
                value = (value * Decimal("0.85")).quantize(CENT)  # wholesale price
            items.append(
                {
                    "sku": f"SKU-{product_index + 1:05d}",
                    "name": name,
                    "category": category,
                    "quantity": Decimal(quantity),
                    "price": value,
                }
            )
            subtotal += value * quantity
        return items, subtotal

    def _history(self, placed: dt.datetime, payment: str) -> list[tuple[str, dt.datetime]]:
        rng = self.rng
        chain = COD_CHAIN if payment == PaymentMethod.COD else CARD_CHAIN
        roll = rng.random()
        if payment == PaymentMethod.COD:
            fate = (
                "refuse"
                if roll < 0.10
                else "cancel"
                if roll < 0.16
                else "return"
                if roll < 0.2
                else ""
            )
        else:
            fate = "cancel" if roll < 0.08 else "return" if roll < 0.14 else ""
        cancel_at = rng.randint(1, len(chain) - 2)
        history: list[tuple[str, dt.datetime]] = [(OrderStatus.NEW, placed)]
        at = placed
        for position, status in enumerate(chain[1:], start=1):
            low, high = STEP_HOURS[status]
            at = at + dt.timedelta(hours=rng.uniform(low, high))
            if at >= self.anchor:
                return history
            if fate == "cancel" and position == cancel_at:
                history.append((OrderStatus.CANCELLED, at))
                return history
            if fate == "refuse" and status == OrderStatus.DELIVERED:
                history.append((OrderStatus.REFUSED, at))
                return history
            history.append((status, at))
        if fate == "return":
            at = at + dt.timedelta(days=rng.uniform(2, 14))
            if at < self.anchor:
                history.append((OrderStatus.RETURNED, at))
        return history

    def _write_orders(
        self,
        orders: list[dict[str, Any]],
        items_per_order: list[list[dict[str, Any]]],
        history_per_order: list[list[tuple[str, dt.datetime]]],
    ) -> Counts:
        with transaction.atomic():
            order_ids = self.order_rows.insert_values(orders)
            items: list[dict[str, Any]] = []
            history: list[dict[str, Any]] = []
            for order_id, order_items, order_history in zip(
                order_ids, items_per_order, history_per_order, strict=True
            ):
                for item in order_items:
                    item["order_id"] = order_id
                    items.append(item)
                history.extend(
                    {"order_id": order_id, "status": status, "at": at}
                    for status, at in order_history
                )
            self.item_rows.insert_values(items)
            self.history_rows.insert_values(history)
            # In the same transaction, as every writer of orders does: the card, the caller
            # page, segments and exports read these rows (SQLite holds the write lock).
            customer_stats_refresh_many([order["customer_id"] for order in orders])
        return Counts(orders=len(orders), items=len(items), history=len(history))


# ---------------------------------------------------------------- command


@contextmanager
def deferred_indexes(model: type[models.Model], *, enabled: bool) -> Iterator[None]:
    """Build the model's list indexes once after a large load, not row by row during it.

    Seven composite indexes on Customer cost about a fifth of a 1M-row load when kept up to
    date per row; built afterwards from sorted data they take seconds. A load killed without
    a chance to clean up leaves them missing: restore_indexes() at the next start adds them.
    """
    if not enabled:
        yield
        return
    with connection.schema_editor() as editor:
        for index in model._meta.indexes:
            editor.remove_index(model, index)
    try:
        yield
    finally:
        restore_indexes(model)


def restore_indexes(model: type[models.Model]) -> None:
    """Add any of the model's Meta indexes that are missing from the database."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        existing = connection.introspection.get_constraints(cursor, model._meta.db_table)
    missing = [index for index in model._meta.indexes if index.name not in existing]
    if missing:
        with connection.schema_editor() as editor:
            for index in missing:
                editor.add_index(model, index)


@contextmanager
def sqlite_bulk_load() -> Iterator[None]:
    """A large page cache and rarer checkpoints on this connection while the load runs.

    Random keys (names, phones, e-mails) land on a different index page per row once the
    tables outgrow the default cache; with 64 MB and a checkpoint every 4 MB of WAL the load
    slowed to half its speed by 500k customers.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute("PRAGMA wal_autocheckpoint")
        autocheckpoint = cursor.fetchone()[0]
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.execute("PRAGMA wal_autocheckpoint=20000")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size={int(cache_size)}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
            # Fold the big WAL back into the base; impossible inside a caller's transaction.
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def ensure_staff() -> dict[str, User]:
    """The demo manager, operator and marketer; random passwords an admin can reset."""
    staff: dict[str, User] = {}
    existing = {u.username: u for u in User.objects.filter(username__in=[s[0] for s in DEMO_STAFF])}
    for username, role, first, last in DEMO_STAFF:
        user = existing.get(username)
        if user is None:
            user = User.objects.create_user(
                username=username,
                password=secrets.token_urlsafe(24),
                role=role,
                first_name=first,
                last_name=last,
            )
        staff[username] = user
    return staff


def ensure_tags() -> dict[str, Tag]:
    Tag.objects.bulk_create(
        [Tag(name=name, color=color) for name, color, _p, _c in data.TAGS], ignore_conflicts=True
    )
    return {t.name: t for t in Tag.objects.filter(name__in=[t[0] for t in data.TAGS])}


def load_pool() -> CustomerPool:
    """Existing customers, for `--customers 0 --orders M`."""
    pool = CustomerPool()
    defaults = {
        cid: f"{postal}, {city}, {line}".lstrip(", ")
        for cid, postal, city, line in Address.objects.filter(is_default=True)
        .values_list("customer_id", "postal_code", "city", "line")
        .iterator(chunk_size=10000)
    }
    rows = Customer.objects.order_by("id").values_list("id", "kind", "created_at")
    for cid, kind, created_at in rows.iterator(chunk_size=10000):
        pool.ids.append(cid)
        pool.created.append(created_at.timestamp())
        pool.company.append(kind == CustomerKind.COMPANY)
        pool.addresses.append(defaults.get(cid, ""))
    return pool


class Command(BaseCommand):
    help = _(
        "Load realistic demo data: Russian customers (persons and companies) with contacts, "
        "addresses, consents and tags, and orders with items and status history."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=2000, help=_("customers to add"))
        parser.add_argument("--orders", type=int, default=6000, help=_("orders to add"))
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("do nothing if the base already has customers (for `make run`)"),
        )
        parser.add_argument(
            "--seed", type=int, default=None, help=_("random seed: the same seed, the same data")
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH, help=_("rows per transaction")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customers_n, orders_n = options["customers"], options["orders"]
        batch = options["batch_size"]
        if customers_n < 0 or orders_n < 0 or batch < 1:
            raise CommandError(_("Counts must not be negative."))
        if options["if_empty"] and Customer.objects.exists():
            self.stdout.write(_("The base already has customers; demo data not loaded."))
            return
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(2**31)
        # Midnight today: the same seed gives the same data all day long.
        anchor = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        generator = DemoGenerator(
            seed=seed,
            anchor=anchor,
            first_index=Customer.objects.count(),
            first_order=100001 + Order.objects.count(),
        )
        restore_indexes(Customer)
        staff = ensure_staff()
        tags = ensure_tags()
        with sqlite_bulk_load():
            self._load(generator, staff, tags, seed, customers_n, orders_n, batch)
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Demo data loaded. Demo staff: %(names)s (passwords are random: reset them "
                    "under Staff to log in as them)."
                )
                % {"names": ", ".join(staff)}
            )
        )

    def _load(
        self,
        generator: DemoGenerator,
        staff: dict[str, User],
        tags: dict[str, Tag],
        seed: int,
        customers_n: int,
        orders_n: int,
        batch: int,
    ) -> None:
        self.stdout.write(
            _("Loading demo data (seed %(seed)d): %(customers)s customers, %(orders)s orders…")
            % {
                "seed": seed,
                "customers": format_number(customers_n),
                "orders": format_number(orders_n),
            }
        )
        pool = CustomerPool() if orders_n else None
        total = Counts()
        started = time.monotonic()
        done = 0
        defer = (
            customers_n >= DEFER_INDEXES_FROM
            and not connection.in_atomic_block
            and not Customer.objects.exists()
        )
        with deferred_indexes(Customer, enabled=defer):
            while done < customers_n:
                size = min(batch, customers_n - done)
                part = generator.customers(size, tags=tags, manager=staff["manager"], pool=pool)
                _add(total, part)
                done += size
                self._progress(_("customers"), done, size, customers_n, started)
        # Includes building the deferred indexes: the figure is what a user waits.
        seconds = time.monotonic() - started
        if customers_n:
            self.stdout.write(
                _(
                    "Customers: %(n)s in %(s)s s (%(rate)s customers/s, %(rows)s rows/s); "
                    "phones %(phones)s, e-mails %(emails)s, addresses %(addresses)s, "
                    "consents %(consents)s, tags %(tags)s, timeline events %(timeline)s."
                )
                % {
                    "n": format_number(total.customers),
                    "s": format_number(seconds, 1),
                    "rate": format_number(round(total.customers / max(seconds, 1e-9))),
                    "rows": format_number(round(total.customer_rows() / max(seconds, 1e-9))),
                    "phones": format_number(total.phones),
                    "emails": format_number(total.emails),
                    "addresses": format_number(total.addresses),
                    "consents": format_number(total.consents),
                    "tags": format_number(total.tags),
                    "timeline": format_number(total.timeline),
                }
            )
        if orders_n:
            if pool is None or not pool.ids:
                pool = load_pool()
            if not pool.ids:
                raise CommandError(_("There are no customers to place orders for."))
            started = time.monotonic()
            done = 0
            while done < orders_n:
                size = min(batch, orders_n - done)
                _add(total, generator.orders(size, pool=pool, staff=staff))
                done += size
                self._progress(_("orders"), done, size, orders_n, started)
            seconds = time.monotonic() - started
            order_rows = total.orders + total.items + total.history
            self.stdout.write(
                _(
                    "Orders: %(n)s in %(s)s s (%(rate)s orders/s, %(rows)s rows/s); "
                    "items %(items)s, status changes %(history)s."
                )
                % {
                    "n": format_number(total.orders),
                    "s": format_number(seconds, 1),
                    "rate": format_number(round(total.orders / max(seconds, 1e-9))),
                    "rows": format_number(round(order_rows / max(seconds, 1e-9))),
                    "items": format_number(total.items),
                    "history": format_number(total.history),
                }
            )

    def _progress(self, what: str, done: int, size: int, total: int, started: float) -> None:
        """A line at every tenth of a large load, so a long run shows it is alive."""
        if total < 50000 or done * 10 // total == (done - size) * 10 // total:
            return
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"  {what}: {format_number(done)}/{format_number(total)}, "
            f"{format_number(round(done / max(elapsed, 1e-9)))}/s",
            ending="\n",
        )


def _address_text(addresses: list[tuple[Any, ...]]) -> str:
    if not addresses:
        return ""
    _label, city, _region, postal, line, _comment, _default = addresses[0]
    return f"{postal}, {city}, {line}"


def _add(total: Counts, part: Counts) -> None:
    for name in total.__dataclass_fields__:
        setattr(total, name, getattr(total, name) + getattr(part, name))
