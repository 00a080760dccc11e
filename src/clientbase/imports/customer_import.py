"""Customer files: match rows against the base, merge duplicates, create and update in sets."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.customers.choices import ConsentState, CustomerKind, TimelineKind
from clientbase.customers.models import (
    Address,
    Consent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    Tag,
    TimelineEvent,
)
from clientbase.customers.normalize import search_key
from clientbase.imports import sqlbulk
from clientbase.imports.choices import ChangeAction, ImportKind, ImportMode
from clientbase.imports.models import ImportChange, ImportJob
from clientbase.imports.normalize import WARNINGS

# Card fields a file may set directly, compared with the stored value to find changes.
SCALAR_FIELDS = (
    "external_id",
    "last_name",
    "first_name",
    "middle_name",
    "company_name",
    "kind",
    "gender",
    "birthday",
    "birth_month",
    "birth_day",
    "inn",
    "kpp",
    "ogrn",
    "bank_bic",
    "bank_account",
    "legal_address",
    "notes",
    "vip",
)
LIST_FIELDS = ("phones", "emails", "tags")
ADDRESS_FIELDS = ("postal_code", "region", "city", "address")
CONSENT_FIELDS = {"consent_email": "email", "consent_sms": "sms"}
IDENTITY_FIELDS = ("external_id", "last_name", "first_name", "company_name", "phones", "emails")
EXAMPLES = 5
UPDATE_SLICE = 10_000
# Cyrillic and ASCII names lower-case the same in polars as with str.casefold(); other
# scripts go through search_key itself so search finds them exactly as typed.
_SIMPLE_TEXT = r"^[\x00-\x7FА-яЁё]*$"


@dataclass
class Outcome:
    """What one batch did (or, in a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, col, value, why
    # Rows imported all the same: a value left out, or a name kept apart from a shared contact.
    warnings: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, col, value, why
    conflicts: int = 0  # rows kept apart from a customer or row they share a contact with
    created_ids: list[int] = field(default_factory=list)
    created_customer_ids: list[int] = field(default_factory=list)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def example(self, outcome: str, item: dict[str, Any]) -> None:
        bucket = self.examples.setdefault(outcome, [])
        if len(bucket) < EXAMPLES:
            bucket.append(item)


# ---------------------------------------------------------------- matching


def _name_keys(norm: pl.DataFrame) -> list[str | None]:
    parts = [
        c for c in ("company_name", "last_name", "first_name", "middle_name") if c in norm.columns
    ]
    if not parts:
        return [None] * norm.height
    texts = (
        norm.select(pl.concat_str([pl.col(c) for c in parts], separator=" ", ignore_nulls=True))
        .to_series()
        .to_list()
    )
    days = _column(norm, "birthday")
    keys: list[str | None] = []
    for text, day in zip(texts, days, strict=True):
        name = search_key(text or "")[:400]
        keys.append(f"{name}|{day.isoformat() if day else ''}" if name else None)
    return keys


@dataclass
class Resolution:
    """Where each row of a batch goes: its existing customer (or None) and its group.

    `conflicts` holds rows that share a phone or an e-mail with a customer or an earlier row
    whose name is clearly someone else's: (row position, "customer"/"row", the other's id or
    position). They were kept apart, never merged.
    """

    matched: list[int | None]
    groups: list[int]
    conflicts: list[tuple[int, str, int]] = field(default_factory=list)


# Keys several people may share (a family phone, an office e-mail): a row matches a customer
# by them only when their names agree.
SHARED_KINDS = ("email", "phone")


def resolve_frame(
    keys: pl.DataFrame,
    match_by: Sequence[str],
    pending: dict[str, list[int]] | None = None,
    pending_names: dict[int, tuple[str | None, ...]] | None = None,
) -> Resolution:
    """Each row's existing customer (or None) and its group, for a whole batch at once.

    A row matches by the first key kind in `match_by` that finds a customer whose name does
    not contradict the row's (the oldest such customer when several share the key); a row
    with no key at all, by its name and birthday. By external id the match always holds; by a
    phone or an e-mail, a different first name, patronymic or family name, or a company against
    a person keep them apart (`names_agree`). Rows that
    match nothing are grouped when they share a key and their names agree (duplicates inside
    the file become one new customer); a row sharing a key with a matched row joins that
    row's customer. `pending` holds keys of customers a dry run has "created" in earlier
    batches (negative ids, with their name keys in `pending_names`), so it counts them as a
    real run would.

    `keys` has one row per file row and the columns external_id (String), emails and phones
    (List[String]), name (String: "search name|birthday", only for rows without any other
    key) and the name keys NAME_KEYS (`name_keys`). Only rows that share a key
    with another row, or match the same customer, go through the union-find (`_union`);
    every other row is its own group.
    """
    n = keys.height
    kinds = [k for k in match_by if k in MATCH_COLUMNS]
    parts = []
    for priority, kind in enumerate([*kinds, "name"]):
        column = MATCH_COLUMNS.get(kind, "name")
        if column not in keys.columns:
            continue
        frame = keys.select(pl.col("__i"), pl.col(column).alias("value"))
        if keys.schema[column] == pl.List(pl.String):
            frame = frame.with_columns(
                pl.int_ranges(0, pl.col("value").list.len()).alias("pos")
            ).explode("value", "pos")
        else:
            frame = frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("pos"))
        parts.append(
            frame.filter(pl.col("value").is_not_null()).with_columns(
                pl.lit(kind).alias("kind"), pl.lit(priority).alias("priority")
            )
        )
    empty = pl.DataFrame(
        schema={
            "__i": pl.Int64,
            "value": pl.String,
            "pos": pl.Int64,
            "kind": pl.String,
            "priority": pl.Int32,
        }
    )
    tokens = (
        pl.concat([p.select(empty.columns).cast(empty.schema) for p in parts], how="vertical")
        if parts
        else empty
    )
    found_parts = []
    for kind in [*kinds, "name"]:
        values = tokens.filter(pl.col("kind") == kind)["value"].unique().to_list()
        if not values:
            continue
        hits = (
            customers_sharing(kind, values)
            if kind in SHARED_KINDS
            else existing_customers(kind, values)
        )
        if pending:
            hits += [
                (value, pseudo) for value in values for pseudo in pending.get(f"{kind}:{value}", ())
            ]
        if hits:
            found_parts.append(
                pl.DataFrame(hits, schema={"value": pl.String, "cid": pl.Int64}, orient="row")
                .with_columns(pl.lit(kind).alias("kind"))
                # Real customers (positive ids) before a dry run's made-up ones, oldest first.
                .sort(pl.col("cid") < 0, pl.col("cid").abs())
                .unique(["kind", "value", "cid"], keep="first", maintain_order=True)
            )
    matched: list[int | None] = [None] * n
    conflicts: list[tuple[int, str, int]] = []
    stored: dict[int, tuple[str | None, ...]] = dict(pending_names or {})
    if found_parts:
        hits_frame = tokens.join(pl.concat(found_parts), on=["kind", "value"], how="inner")
        shared = hits_frame.filter(pl.col("kind").is_in(SHARED_KINDS))
        if shared.height:
            ids = shared.filter(pl.col("cid") > 0)["cid"].unique().sort().to_list()
            stored.update(_stored_name_keys(ids))
            names = pl.DataFrame(
                [(cid, *key) for cid, key in stored.items()],
                schema={"cid": pl.Int64, **{f"s{k}": pl.String for k in NAME_KEYS}},
                orient="row",
            )
            row_names = keys.select("__i", *NAME_KEYS)
            verdict = (
                shared.select("__i", "cid")
                .unique()
                .join(row_names, on="__i", how="left")
                .join(names, on="cid", how="left")
                .select(
                    "__i",
                    "cid",
                    names_agree(NAME_KEYS, [f"s{k}" for k in NAME_KEYS]).alias("agree"),
                    # Of several customers that agree, the one with most of the name in common
                    # (the mother and the daughter both "Анна" by phone: the patronymic too).
                    pl.sum_horizontal(
                        (pl.col(k) == pl.col(f"s{k}")).fill_null(False) for k in NAME_KEYS
                    ).alias("same"),
                )
            )
            hits_frame = hits_frame.join(verdict, on=["__i", "cid"], how="left").with_columns(
                pl.col("agree").fill_null(True), pl.col("same").fill_null(0)
            )
        else:
            hits_frame = hits_frame.with_columns(
                pl.lit(True).alias("agree"), pl.lit(0, dtype=pl.UInt32).alias("same")
            )
        order = (
            "__i",
            "priority",
            "pos",
            -pl.col("same").cast(pl.Int32),
            pl.col("cid") < 0,
            pl.col("cid").abs(),
        )
        best = (
            hits_frame.filter(pl.col("agree"))
            .sort(*order)
            .unique("__i", keep="first", maintain_order=True)
        )
        for i, cid in best.select("__i", "cid").iter_rows():
            matched[i] = cid
        refused = (
            hits_frame.filter(~pl.col("agree"))
            .sort(*order)
            .unique("__i", keep="first", maintain_order=True)
        )
        for i, cid in refused.select("__i", "cid").iter_rows():
            if matched[i] is None:
                conflicts.append((i, "customer", cid))
    # Rows that need the union-find: a key shared with another row, or a shared customer.
    shared_keys = (
        tokens.select("kind", "value", "__i")
        .unique()
        .group_by("kind", "value")
        .agg(pl.col("__i"))
        .filter(pl.col("__i").list.len() > 1)
    )
    involved = set(shared_keys["__i"].explode().to_list()) if shared_keys.height else set()
    seen_customers: dict[int, int] = {}
    for i, cid in enumerate(matched):
        if cid is None:
            continue
        if cid in seen_customers:
            involved.update((i, seen_customers[cid]))
        else:
            seen_customers[cid] = i
    groups = list(range(n))
    if involved:
        subset = sorted(involved)
        by_row: dict[int, list[str]] = {}
        for i, kind, value in (
            tokens.filter(pl.col("__i").is_in(subset)).select("__i", "kind", "value").iter_rows()
        ):
            by_row.setdefault(i, []).append(f"{kind}:{value}")
        name_of = {
            i: tuple(key)
            for i, *key in keys.filter(pl.col("__i").is_in(subset))
            .select("__i", *NAME_KEYS)
            .iter_rows()
        }
        sub_matched = [matched[i] for i in subset]
        sub_names = [
            stored.get(cid, name_of[i]) if cid is not None else name_of[i]
            for i, cid in zip(subset, sub_matched, strict=True)
        ]
        sub_groups, refused_rows = _union(
            sub_matched, [by_row.get(i, []) for i in subset], sub_names
        )
        for position, i in enumerate(subset):
            groups[i] = subset[sub_groups[position]]
            if matched[i] is None:
                matched[i] = sub_matched[position]
        conflicted = {i for i, _kind, _other in conflicts}
        for position, other in refused_rows:
            i = subset[position]
            if i not in conflicted:
                conflicted.add(i)
                conflicts.append((i, "row", subset[other]))
    return Resolution(matched, groups, conflicts)


# The parts of a name that tell people apart, as name_keys gives them.
NAME_KEYS = ("__first", "__middle", "__last", "__kind")


def name_keys(first: pl.Expr, middle: pl.Expr, last: pl.Expr, kind: pl.Expr) -> list[pl.Expr]:
    """A first name, patronymic, family name and kind in the form `names_agree` compares.

    Lower case with ё as е. A family name keeps its male or female ending: Лебедев and
    Лебедева are one family, so their shared phone does not make them one customer, and the
    ending itself tells a man from a woman, so they are never merged either. A patronymic
    names the father: Иван Иванович and Иван Петрович are two people.
    """

    def folded(text: pl.Expr) -> pl.Expr:
        value = text.str.to_lowercase().str.replace_all("ё", "е").str.strip_chars()
        return pl.when(value != "").then(value)

    return [
        folded(first).alias("__first"),
        folded(middle).alias("__middle"),
        folded(last).alias("__last"),
        folded(kind).alias("__kind"),
    ]


def names_agree(row: Sequence[str], other: Sequence[str]) -> pl.Expr:
    """True unless the two sets of name keys (`name_keys`) clearly belong to different people.

    A part missing on either side agrees; an initial agrees with a name starting with it.
    """

    def same(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        initial = a.str.contains(r"^\w\.") | b.str.contains(r"^\w\.")
        return (
            a.is_null()
            | b.is_null()
            | (a == b)
            | (initial & (a.str.slice(0, 1) == b.str.slice(0, 1)))
        )

    agree = pl.lit(True)
    for mine, theirs in zip(row, other, strict=True):
        agree &= same(pl.col(mine), pl.col(theirs))
    return agree.fill_null(True)


def _agree(a: tuple[str | None, ...], b: tuple[str | None, ...]) -> bool:
    """names_agree for one pair, in Python (the union-find's few rows)."""
    for x, y in zip(a, b, strict=True):
        if not x or not y or x == y:
            continue
        if (re.match(r"^\w\.", x) or re.match(r"^\w\.", y)) and x[0] == y[0]:
            continue
        return False
    return True


def _stored_name_keys(ids: Sequence[int]) -> dict[int, tuple[str | None, ...]]:
    """Name keys of existing customers, one query for the batch."""
    columns = ["id", "first_name", "middle_name", "last_name", "kind"]
    rows = list(sqlbulk.select_in(Customer, columns, "id", ids))
    if not rows:
        return {}
    frame = pl.DataFrame(
        rows, schema={"id": pl.Int64, **dict.fromkeys(columns[1:], pl.String)}, orient="row"
    ).select("id", *name_keys(*(pl.col(c) for c in columns[1:])))
    return {cid: tuple(key) for cid, *key in frame.iter_rows()}


def customers_sharing(kind: str, values: Sequence[str]) -> list[tuple[str, int]]:
    """(value, customer id) for every customer holding one of the phones or e-mails."""
    model, column = {"email": (CustomerEmail, "address"), "phone": (CustomerPhone, "number")}[kind]
    # The database's own (str, int) tuples: a million of them are not converted one by one.
    return list(sqlbulk.select_in(model, [column, "customer_id"], column, values))


MATCH_COLUMNS = {"external_id": "external_id", "email": "emails", "phone": "phones"}


def existing_customers(kind: str, values: Sequence[str]) -> list[tuple[str, int]]:
    """(value, lowest customer id) for the values of one key kind found in the base.

    Shared by the customer and the order import: where customers share a key, the oldest wins.
    """
    if kind == "name":
        best: dict[str, int] = {}
        names = sorted({v.split("|", 1)[0] for v in values})
        wanted = set(values)
        for search_name, birthday, cid in sqlbulk.select_in(
            Customer, ["search_name", "birthday", "id"], "search_name", names
        ):
            day = birthday.isoformat() if isinstance(birthday, dt.date) else (birthday or "")
            for token in (f"{search_name}|{day}", f"{search_name}|"):
                if token in wanted and cid < best.get(token, cid + 1):
                    best[token] = cid
        return list(best.items())
    model, column, owner = {
        "external_id": (Customer, "external_id", "id"),
        "email": (CustomerEmail, "address", "customer_id"),
        "phone": (CustomerPhone, "number", "customer_id"),
    }[kind]
    oldest: dict[str, int] = {}
    for value, cid in sqlbulk.select_in(model, [column, owner], column, values):
        if int(cid) < oldest.get(str(value), int(cid) + 1):
            oldest[str(value)] = int(cid)
    return list(oldest.items())


def _union(
    matched: list[int | None],
    tokens: list[list[str]],
    names: list[tuple[str | None, ...]],
) -> tuple[list[int], list[tuple[int, int]]]:
    """Group rows (by position) that share a token or a matched customer; returns roots.

    The root of a group is always one of its matched rows when it has any, and rows of two
    different existing customers are never joined; nor are rows whose names (`names`, the
    matched customer's for a matched row) say they are different people, though they share
    a phone or an e-mail. Fills `matched` for rows that join a matched group. Also returns
    (row, other row) for each row kept apart that way.
    """
    parent = list(range(len(tokens)))
    group_name = list(names)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    refused: list[tuple[int, int]] = []
    order = sorted(range(len(tokens)), key=lambda i: matched[i] is None)
    for i in order:
        row_tokens = [f"c:{matched[i]}"] if matched[i] is not None else []
        for token in [*row_tokens, *tokens[i]]:
            j = owner.setdefault(token, i)
            a, b = root(i), root(j)
            if a == b:
                continue
            if matched[a] is not None and matched[b] is not None and matched[a] != matched[b]:
                continue  # two different existing customers are never merged by an import
            if not _agree(group_name[a], group_name[b]):
                refused.append((i, j))
                continue
            if matched[a] is None:
                a, b = b, a
            parent[b] = a
            # The group's name fills its gaps from the row that joined it.
            group_name[a] = tuple(x or y for x, y in zip(group_name[a], group_name[b], strict=True))
    roots = [root(i) for i in range(len(tokens))]
    for i, g in enumerate(roots):
        if matched[i] is None and matched[g] is not None:
            matched[i] = matched[g]
    # A row refused by one group may still have joined another through a later key.
    apart = [(i, j) for i, j in refused if roots[i] != roots[j]]
    return roots, apart


def key_frame(norm: pl.DataFrame, match_by: Sequence[str]) -> pl.DataFrame:
    """The match keys of a normalised batch, for resolve_frame (names only for keyless rows)."""
    columns = [pl.int_range(0, pl.len(), dtype=pl.Int64).alias("__i")]
    present = []
    for kind, column in MATCH_COLUMNS.items():
        if column in norm.columns and kind in match_by:
            columns.append(pl.col(column))
            present.append(
                pl.col(column).list.len().fill_null(0) > 0
                if norm.schema[column] == pl.List(pl.String)
                else pl.col(column).is_not_null()
            )
    frame = norm.select(columns)
    keyless = norm.select((~pl.any_horizontal(present)) if present else pl.lit(True)).to_series()
    names: list[str | None] = [None] * norm.height
    if keyless.any():
        subset = norm.filter(keyless)
        positions = [i for i, flag in enumerate(keyless.to_list()) if flag]
        for i, name in zip(positions, _name_keys(subset), strict=True):
            names[i] = name

    def text(name: str) -> pl.Expr:
        return pl.col(name) if name in norm.columns else pl.lit(None, dtype=pl.String)

    # A row with a company name and no person's name is a company, as _customer_frame decides.
    row_kind = pl.coalesce(
        text("kind"),
        pl.when(
            text("company_name").is_not_null()
            & text("last_name").is_null()
            & text("first_name").is_null()
        ).then(pl.lit(CustomerKind.COMPANY.value)),
    )
    # (With no name column the keys are literals: the row index gives them the batch's length.)
    person = norm.select(
        pl.int_range(pl.len()).alias("__position"),
        *name_keys(text("first_name"), text("middle_name"), text("last_name"), row_kind),
    ).drop("__position")
    return pl.concat(
        [frame.with_columns(pl.Series("name", names, dtype=pl.String)), person],
        how="horizontal",
    )


# ---------------------------------------------------------------- the batch


class CustomerImport:
    """Processes normalised batches of a customer file for one job."""

    def __init__(self, job: ImportJob, *, write: bool) -> None:
        self.job = job
        self.write = write
        self.match_by = [k for k in job.match_by if k in ("external_id", "email", "phone")]
        self.now = timezone.now()
        # Customers an earlier batch of this job created or matched: a later row of the same
        # file only fills their gaps, so the first occurrence wins across the whole file
        # and a re-import of the file finds nothing to change. One bit per customer id.
        self.touched = bytearray()
        # Dry run only: keys of customers the run would have created, with made-up ids, their
        # name keys (for names_agree) and the file row each came from.
        self.pending: dict[str, list[int]] = {}
        self.pending_names: dict[int, tuple[str | None, ...]] = {}
        self.pending_rows: dict[int, int] = {}
        self.next_pseudo = -1
        if write and job.pk and job.kind == ImportKind.CUSTOMERS:
            self._touch_committed()

    def _touch_committed(self) -> None:
        """A resumed run: customers the committed batches created or changed count as taken.

        (Customers those batches only matched are not recorded; a later row for one of them
        is compared as for any existing customer.)
        """
        for id_ranges in self.job.batches.values_list("created_ranges", flat=True):
            self._touch(sqlbulk.expand(id_ranges))
        self._touch(ImportChange.objects.filter(job=self.job).values_list("object_id", flat=True))

    # -- entry point

    def split_tail(self, norm: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        return norm, norm.clear()

    def process(self, norm: pl.DataFrame) -> Outcome:
        outcome = Outcome()
        norm = self._reject_invalid(norm, outcome)
        if norm.is_empty():
            return outcome
        keys = key_frame(norm, self.match_by)
        resolution = resolve_frame(keys, self.match_by, self.pending, self.pending_names)
        matched = resolution.matched
        row_numbers = norm["__row"].to_list()
        shown = _shown_names(norm, [i for i, _what, _other in resolution.conflicts])
        norm = norm.with_columns(
            pl.Series("__customer", matched, dtype=pl.Int64),
            pl.Series("__group", resolution.groups, dtype=pl.Int64),
        )
        merged = _merge(norm)
        nameless = merged.filter(pl.col("__customer").is_null() & ~_names_someone(merged))
        if nameless.height and self.job.mode != ImportMode.UPDATE:
            # An id alone (with a city, tags...) would make a nameless card "#2002".
            reason = _(
                "A new customer needs a name, a company name, a phone or an e-mail; "
                "the row has none of them."
            )
            dropped = norm["__group"].is_in(nameless["__group"].implode())
            for row in norm.filter(dropped)["__row"].to_list():
                outcome.rejects.append((row, "", "", reason))
            norm, keys = norm.filter(~dropped), keys.filter(~dropped)
            merged = merged.filter(~pl.col("__group").is_in(nameless["__group"].implode()))
        new = merged.filter(pl.col("__customer").is_null())
        old = merged.filter(pl.col("__customer").is_not_null())
        if self.job.mode == ImportMode.UPDATE:
            reason = _("No customer in the base matches this row (the import only updates).")
            for row in norm.filter(pl.col("__customer").is_null())["__row"].to_list():
                outcome.rejects.append((row, "", "", reason))
            outcome.duplicates += (
                norm.filter(pl.col("__customer").is_not_null()).height - old.height
            )
            new = new.clear()
        else:
            outcome.duplicates += norm.height - merged.height
        if self.job.mode == ImportMode.CREATE and old.height:
            outcome.unchanged += old.height
            for item in old.head(EXAMPLES).select("__row", "__customer").to_dicts():
                outcome.example("unchanged", {"row": item["__row"], "customer": item["__customer"]})
            old = old.clear()
        if not self.write and new.height:
            self._remember_pending(norm, keys, new)
        fresh = old.filter(pl.col("__customer") > 0) if old.height else old
        outcome.duplicates += old.height - fresh.height
        if new.height:
            self._create(new, outcome)
        if fresh.height:
            self._update(fresh, outcome)
        self._touch([*outcome.created_ids, *(c for c in matched if c is not None and c > 0)])
        self._warn(norm, resolution, row_numbers, shown, outcome)
        return outcome

    def _warn(
        self,
        norm: pl.DataFrame,
        resolution: Resolution,
        row_numbers: list[int],
        shown: dict[int, str],
        outcome: Outcome,
    ) -> None:
        """The warnings of the rows that were imported: values left out, names kept apart."""
        rejected = {row for row, *_rest in outcome.rejects}
        if WARNINGS in norm.columns:
            noted = norm.filter(pl.col(WARNINGS).is_not_null()).select("__row", WARNINGS)
            for row, items in noted.iter_rows():
                if row in rejected:
                    continue
                for item in items:
                    outcome.warnings.append((row, item["column"], item["value"], item["reason"]))
        if not resolution.conflicts:
            return
        # Positions in `resolution` are those of the batch before nameless groups were dropped.
        position_rows = dict(enumerate(row_numbers))
        kept = set(norm["__row"].to_list())
        customers = _display_names(
            [other for _i, what, other in resolution.conflicts if what == "customer" and other > 0]
        )
        for i, what, other in resolution.conflicts:
            row = position_rows[i]
            if row not in kept or row in rejected:
                continue
            if what == "row" or other < 0:
                reason = _(
                    "Shares a phone or an e-mail with row %(row)s, but the names are different "
                    "people's: imported as a separate customer."
                ) % {
                    "row": position_rows[other]
                    if what == "row"
                    else self.pending_rows.get(other, "?")
                }
            else:
                reason = _(
                    "Shares a phone or an e-mail with the customer #%(id)s “%(name)s”, but the "
                    "names are different people's: imported as a separate customer."
                ) % {"id": other, "name": customers.get(other, "")}
            outcome.warnings.append((row, "", shown.get(i, ""), reason))
            outcome.conflicts += 1

    def _remember_pending(self, norm: pl.DataFrame, keys: pl.DataFrame, new: pl.DataFrame) -> None:
        groups = set(new["__group"].to_list())
        base = self.next_pseudo
        self.next_pseudo -= int(norm["__group"].max() or 0) + 1  # type: ignore[arg-type]
        for group, row, number in zip(
            norm["__group"].to_list(),
            keys.iter_rows(named=True),
            norm["__row"].to_list(),
            strict=True,
        ):
            if group not in groups:
                continue
            pseudo = base - group
            self.pending_rows.setdefault(pseudo, number)
            name = tuple(row[k] for k in NAME_KEYS)
            known = self.pending_names.get(pseudo)
            self.pending_names[pseudo] = (
                tuple(x or y for x, y in zip(known, name, strict=True)) if known else name
            )
            for kind in [*self.match_by, "name"]:
                value = row.get(MATCH_COLUMNS.get(kind, "name"))
                for item in value if isinstance(value, list) else [value]:
                    if item:
                        ids = self.pending.setdefault(f"{kind}:{item}", [])
                        if pseudo not in ids:
                            ids.append(pseudo)

    def _touch(self, ids: Iterable[int]) -> None:
        for cid in ids:
            if cid >= len(self.touched):
                self.touched.extend(bytes(max(cid + 1 - len(self.touched), 1 << 16)))
            self.touched[cid] = 1

    def _touched(self, cid: int) -> bool:
        return cid < len(self.touched) and bool(self.touched[cid])

    # -- validation

    def _reject_invalid(self, norm: pl.DataFrame, outcome: Outcome) -> pl.DataFrame:
        bad = norm.filter(pl.col("__error_reason").is_not_null())
        for row, column, value, reason in bad.select(
            "__row", "__error_column", "__error_value", "__error_reason"
        ).iter_rows():
            outcome.rejects.append((row, column or "", value or "", reason))
        norm = norm.filter(pl.col("__error_reason").is_null())
        present = [c for c in IDENTITY_FIELDS if c in norm.columns]
        if not present:
            has_identity = pl.lit(False)
        else:
            has_identity = pl.any_horizontal(
                [
                    pl.col(c).list.len().fill_null(0) > 0
                    if norm.schema[c] == pl.List(pl.String)
                    else pl.col(c).is_not_null()
                    for c in present
                ]
            )
        nameless = norm.filter(~has_identity)
        reason = _("The row has no name, company, phone, e-mail or id: nothing to import.")
        warned = WARNINGS in nameless.columns
        for row, items in nameless.select(
            "__row", pl.col(WARNINGS) if warned else pl.lit(None).alias(WARNINGS)
        ).iter_rows():
            if items:
                # Its only identity could not be read ("12345" as the phone): say that.
                first = items[0]
                outcome.rejects.append((row, first["column"], first["value"], first["reason"]))
            else:
                outcome.rejects.append((row, "", "", reason))
        return norm.filter(has_identity)

    # -- new customers, as sets

    def _create(self, new: pl.DataFrame, outcome: Outcome) -> None:
        outcome.created += new.height
        for item in new.head(EXAMPLES).to_dicts():
            outcome.example("created", _public(item))
        if not self.write:
            return
        # In name order: five of the customer indexes lead with a constant-ish column and the
        # name, so sorted rows extend them at a few places instead of all over the B-trees.
        frame = _with_search_name(_customer_frame(new, self.now)).sort("search_name")
        ids = sqlbulk.allocate_ids(Customer, new.height)
        outcome.created_ids.extend(ids)
        frame = frame.with_columns(pl.Series("id", ids, dtype=pl.Int64))
        columns = [
            "id",
            "created_at",
            "updated_at",
            "kind",
            "last_name",
            "first_name",
            "middle_name",
            "gender",
            "birthday",
            "birth_month",
            "birth_day",
            "company_name",
            "inn",
            "kpp",
            "ogrn",
            "bank_bic",
            "bank_account",
            "legal_address",
            "external_id",
            "notes",
            "vip",
            "search_name",
            "primary_phone",
            "primary_email",
            "city",
            "created_by_id",
        ]
        sqlbulk.insert_rows(
            Customer,
            columns,
            frame.select(columns).iter_rows(),
            constants={
                "document_type": "''",
                "document_number": "''",
                "status": "'active'",
                "stoplist_reason": "''",
                "stoplist_comment": "''",
                "source": "'import'",
                "interests": "'[]'",
                "custom_fields": "'{}'",
                "version": "1",
            },
        )
        self._insert_contacts(frame)
        self._insert_created_events(ids)

    def _insert_created_events(self, ids: Sequence[int]) -> None:
        """A "created" entry on each new customer's timeline, as a card made by hand has."""
        actor = self.job.created_by_id
        data = json.dumps({"source": "import", "import": self.job.pk})
        stamp = sqlbulk.db_datetime(self.now)
        sqlbulk.insert_rows(
            TimelineEvent,
            ["customer_id", "at"],
            ((cid, stamp) for cid in sorted(ids)),
            constants={
                "kind": f"'{TimelineKind.CREATED.value}'",
                "actor_id": str(int(actor)) if actor else "NULL",
                # Written by this module from integers only: no user input in the literal.
                "data": "'" + data + "'",
            },
        )

    def _insert_contacts(self, frame: pl.DataFrame) -> None:
        if "phones" in frame.columns:
            # By number: the number index then grows at a few places per batch.
            phones = _explode(frame, "phones").sort("value")
            sqlbulk.insert_rows(
                CustomerPhone,
                ["customer_id", "number", "is_primary"],
                phones.iter_rows(),
                constants={"kind": "'mobile'"},
            )
        if "emails" in frame.columns:
            emails = _explode(frame, "emails").sort("value")
            sqlbulk.insert_rows(
                CustomerEmail, ["customer_id", "address", "is_primary"], emails.iter_rows()
            )
        if "address" in frame.columns:
            addresses = frame.filter(pl.col("address").is_not_null()).select(
                "id",
                _text(frame, "postal_code", 12),
                _text(frame, "region", 100),
                _text(frame, "city", 100),
                pl.col("address"),
            )
            sqlbulk.insert_rows(
                Address,
                ["customer_id", "postal_code", "region", "city", "line"],
                addresses.iter_rows(),
                constants={"label": "''", "comment": "''", "is_default": _true()},
            )
        if "tags" in frame.columns:
            links = _explode(frame, "tags").select("customer_id", "value")
            tag_ids = _tag_ids(links["value"].unique().to_list())
            sqlbulk.insert_rows(
                Customer.tags.through,
                ["customer_id", "tag_id"],
                ((cid, tag_ids[name]) for cid, name in links.iter_rows()),
                ignore=True,
            )
        changed_at = sqlbulk.db_datetime(self.now)
        for column, channel in CONSENT_FIELDS.items():
            if column not in frame.columns:
                continue
            rows = frame.filter(pl.col(column).is_not_null()).select("id", column)
            sqlbulk.insert_rows(
                Consent,
                ["customer_id", "state", "changed_at", "source"],
                (
                    (cid, _consent_state(value), changed_at, self._source())
                    for cid, value in rows.iter_rows()
                ),
                constants={"channel": f"'{channel}'"},
            )

    def _source(self) -> str:
        return f"import #{self.job.pk}"

    # -- existing customers: compare, then change only what differs

    def _update(self, old: pl.DataFrame, outcome: Outcome) -> None:
        # Rows that certainly change nothing are found in sets first (a re-import is mostly
        # these); only the others are compared one by one.
        same = self._certainly_unchanged(old)
        if same.any():
            kept = old.filter(same)
            outcome.unchanged += kept.height
            for row, cid in kept.select("__row", "__customer").head(EXAMPLES).iter_rows():
                outcome.example("unchanged", {"row": row, "customer": cid})
            old = old.filter(~same)
        # In slices: the stored state of each customer is a dict of sets, and a whole batch
        # of them at once would double the import's memory when a file is mostly updates.
        for part in old.iter_slices(UPDATE_SLICE):
            self._update_part(part, outcome)

    def _certainly_unchanged(self, old: pl.DataFrame) -> pl.Series:
        """True for rows whose every given value equals what the customer has stored.

        Conservative: a row with an address, or of a customer an earlier row of this file
        already took, is left to the row-by-row comparison (`_plan`), which decides the rest.
        """
        ids = old["__customer"].to_list()
        touched = pl.Series([self._touched(int(c)) for c in ids], dtype=pl.Boolean)
        ok = ~touched
        if "address" in old.columns:
            ok &= old["address"].is_null()
        scalars = [c for c in (*SCALAR_FIELDS, "city") if c in old.columns]
        rows = list(sqlbulk.select_in(Customer, ["id", *scalars], "id", ids))
        if len(rows) != len(set(ids)):
            # A customer deleted meanwhile: the row-by-row path reports it.
            return pl.Series([False] * old.height, dtype=pl.Boolean)
        stored = pl.DataFrame(
            rows,
            schema=["__customer", *(f"__was_{c}" for c in scalars)],
            orient="row",
            infer_schema_length=None,
        ).with_columns(pl.col("__customer").cast(pl.Int64))
        frame = old.select("__row", "__customer", *scalars).join(
            stored, on="__customer", how="left", maintain_order="left"
        )
        for name in scalars:
            new, was = pl.col(name), pl.col(f"__was_{name}")
            if name == "birthday":
                new = new.dt.strftime("%Y-%m-%d")
                was = was.cast(pl.String).str.slice(0, 10)
            elif name == "vip":
                was = was.cast(pl.Boolean)
            ok &= frame.select((new.is_null() | (new == was).fill_null(False)).alias("ok"))["ok"]
        for column, (model, value_column) in {
            "phones": (CustomerPhone, "number"),
            "emails": (CustomerEmail, "address"),
        }.items():
            if column in old.columns:
                pairs = sqlbulk.select_in(model, ["customer_id", value_column], "customer_id", ids)
                ok &= _all_stored(old, column, list(pairs))
        if "tags" in old.columns:
            links = list(
                sqlbulk.select_in(
                    Customer.tags.through, ["customer_id", "tag_id"], "customer_id", ids
                )
            )
            names = dict(
                Tag.objects.filter(id__in={t for _c, t in links}).values_list("id", "name")
            )
            ok &= _all_stored(old, "tags", [(c, names[t]) for c, t in links])
        for column, channel in CONSENT_FIELDS.items():
            if column in old.columns:
                states = {
                    cid: state
                    for cid, ch, state in sqlbulk.select_in(
                        Consent, ["customer_id", "channel", "state"], "customer_id", ids
                    )
                    if ch == channel
                }
                same_consent = [
                    value is None or states.get(int(cid)) == _consent_state(value)
                    for cid, value in zip(ids, old[column].to_list(), strict=True)
                ]
                ok &= pl.Series(same_consent, dtype=pl.Boolean)
        return ok

    def _update_part(self, old: pl.DataFrame, outcome: Outcome) -> None:
        records = old.to_dicts()
        ids = [int(r["__customer"]) for r in records]
        current = _current(ids, lock=self.write)
        plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for record in records:
            state = current.get(int(record["__customer"]))
            if state is None:  # deleted since the lookup (PostgreSQL without the lock)
                outcome.rejects.append(
                    (record["__row"], "", "", _("The matching customer was deleted meanwhile."))
                )
                continue
            fill_only = self._touched(state["id"])
            plan = _plan(record, state, fill_only=fill_only)
            if fill_only:
                # A later row of a customer an earlier batch already took: merged into it,
                # counted like duplicates inside one batch, whatever the batch size.
                outcome.duplicates += 1
                if plan:
                    plans.append((record, state, plan))
                continue
            if not plan:
                outcome.unchanged += 1
                outcome.example("unchanged", {"row": record["__row"], "customer": state["id"]})
                continue
            outcome.updated += 1
            outcome.example(
                "updated",
                {
                    "row": record["__row"],
                    "customer": state["id"],
                    "changes": _shown(plan),
                    # Old values too: after the run the stored record holds the new ones.
                    "before": {k: _json(state[k]) for k in plan["fields"]},
                },
            )
            plans.append((record, state, plan))
        if self.write and plans:
            self._apply(plans)

    def _apply(self, plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
        now = sqlbulk.db_datetime(self.now)
        changes: list[ImportChange] = []
        by_shape: dict[tuple[str, ...], list[list[Any]]] = {}
        phones: list[tuple[int, str, bool]] = []
        emails: list[tuple[int, str, bool]] = []
        tag_links: list[tuple[int, str]] = []
        addresses: list[tuple[int, str, str, str, str, bool]] = []
        consents: list[tuple[int, str, str]] = []
        for _record, state, plan in plans:
            cid = state["id"]
            values = dict(plan["fields"])
            before: dict[str, Any] = {"fields": {k: _json(state[k]) for k in values}}
            for number in plan["phones"]:
                phones.append(
                    (cid, number, not state["primary_phone"] and number == plan["phones"][0])
                )
            if plan["phones"] and not state["primary_phone"]:
                values["primary_phone"] = plan["phones"][0]
            for address in plan["emails"]:
                emails.append(
                    (cid, address, not state["primary_email"] and address == plan["emails"][0])
                )
            if plan["emails"] and not state["primary_email"]:
                values["primary_email"] = plan["emails"][0]
            tag_links += [(cid, name) for name in plan["tags"]]
            if plan["address"]:
                default = not state["has_default_address"]
                addresses.append((cid, *plan["address"], default))
                if default:
                    values["city"] = plan["address"][2]
            consents += [(cid, channel, new) for channel, new in plan["consents"].items()]
            if any(
                name in values
                for name in ("last_name", "first_name", "middle_name", "kind", "company_name")
            ):
                merged = {**state, **values}
                values["search_name"] = _search_name(merged)
            if values.get("birthday"):
                birthday = values["birthday"]
                values["birth_month"], values["birth_day"] = birthday.month, birthday.day
                before["fields"].update(
                    birth_month=state["birth_month"], birth_day=state["birth_day"]
                )
            before["primary_phone"] = state["primary_phone"]
            before["primary_email"] = state["primary_email"]
            before["city"] = state["city"]
            before["search_name"] = state["search_name"]
            before["phones"] = plan["phones"]
            before["emails"] = plan["emails"]
            before["tags"] = plan["tags"]
            before["address"] = list(plan["address"]) if plan["address"] else None
            before["consents"] = {ch: state["consents"].get(ch) for ch in plan["consents"]}
            shape = tuple(sorted(values))
            by_shape.setdefault(shape, []).append(
                [_db(values[k]) for k in shape] + [now, cid, state["version"]]
            )
            changes.append(
                ImportChange(
                    job=self.job,
                    action=ChangeAction.UPDATED,
                    object_id=cid,
                    version_after=state["version"] + 1,
                    before=before,
                )
            )
        for shape, rows in by_shape.items():
            sqlbulk.update_rows(
                Customer,
                [*shape, "updated_at"],
                rows,
                where='"id" = %s AND "version" = %s',
                also='"version" = "version" + 1',
            )
        sqlbulk.insert_rows(
            CustomerPhone,
            ["customer_id", "number", "is_primary"],
            phones,
            constants={"kind": "'mobile'"},
        )
        sqlbulk.insert_rows(CustomerEmail, ["customer_id", "address", "is_primary"], emails)
        if tag_links:
            tag_ids = _tag_ids([name for _cid, name in tag_links])
            sqlbulk.insert_rows(
                Customer.tags.through,
                ["customer_id", "tag_id"],
                ((cid, tag_ids[name]) for cid, name in tag_links),
                ignore=True,
            )
        sqlbulk.insert_rows(
            Address,
            ["customer_id", "postal_code", "region", "city", "line", "is_default"],
            addresses,
            constants={"label": "''", "comment": "''"},
        )
        for cid, channel, new_state in consents:
            Consent.objects.update_or_create(
                customer_id=cid,
                channel=channel,
                defaults={"state": new_state, "changed_at": self.now, "source": self._source()},
            )
        ImportChange.objects.bulk_create(changes, batch_size=2000)


# ---------------------------------------------------------------- helpers


def _all_stored(old: pl.DataFrame, column: str, stored: list[tuple[int, str]]) -> pl.Series:
    """Per row: is every value of its list column already among its customer's `stored`?"""
    pairs = pl.DataFrame(
        stored, schema={"__customer": pl.Int64, "value": pl.String}, orient="row"
    ).with_columns(pl.lit(True).alias("stored"))
    verdicts = (
        old.select("__row", "__customer", pl.col(column).alias("value"))
        .explode("value")
        .filter(pl.col("value").is_not_null())
        .join(pairs, on=["__customer", "value"], how="left")
        .group_by("__row")
        .agg(pl.col("stored").fill_null(False).all().alias("all_stored"))
    )
    return (
        old.select("__row")
        .join(verdicts, on="__row", how="left", maintain_order="left")
        .select(pl.col("all_stored").fill_null(True))
        .to_series()
    )


def _names_someone(merged: pl.DataFrame) -> pl.Expr:
    """A merged row that can be a customer of its own: a person's or company's name, or a
    phone or an e-mail to reach them by."""
    checks: list[pl.Expr] = [pl.lit(False)]
    for name in ("last_name", "first_name", "company_name", "phones", "emails"):
        if name not in merged.columns:
            continue
        if merged.schema[name] == pl.List(pl.String):
            checks.append(pl.col(name).list.len().fill_null(0) > 0)
        else:
            checks.append(pl.col(name).is_not_null())
    return pl.any_horizontal(checks)


def _shown_names(norm: pl.DataFrame, positions: Sequence[int]) -> dict[int, str]:
    """The names of some rows of a batch as one line each (for conflict warnings)."""
    wanted = sorted(set(positions))
    parts = [
        pl.col(c)
        for c in ("company_name", "last_name", "first_name", "middle_name")
        if c in norm.columns
    ]
    if not wanted or not parts:
        return {}
    texts = (
        norm[wanted]
        .select(pl.concat_str(parts, separator=" ", ignore_nulls=True))
        .to_series()
        .to_list()
    )
    return dict(zip(wanted, texts, strict=True))


def _display_names(ids: Sequence[int]) -> dict[int, str]:
    """How customers are called on their cards, for messages (one query)."""
    names = {}
    for cid, kind, last, first, middle, company in sqlbulk.select_in(
        Customer,
        ["id", "kind", "last_name", "first_name", "middle_name", "company_name"],
        "id",
        sorted(set(ids)),
    ):
        person = " ".join(p for p in (last, first, middle) if p)
        names[int(cid)] = (
            company if kind == CustomerKind.COMPANY and company else person or company or ""
        )
    return names


def _column(frame: pl.DataFrame, name: str) -> list[Any]:
    if name in frame.columns:
        return frame[name].to_list()
    return [None] * frame.height


def _merge(norm: pl.DataFrame) -> pl.DataFrame:
    """One row per group: the first non-empty value wins, contacts and tags are united.

    The first occurrence is taken as the main record; later rows fill its gaps and add
    their phones, e-mails and tags.
    """
    aggs: list[pl.Expr] = [pl.col("__row").first(), pl.col("__customer").first()]
    lists = []
    for name, dtype in norm.schema.items():
        if name.startswith("__"):
            continue
        if dtype == pl.List(pl.String):
            lists.append(name)
        else:
            aggs.append(pl.col(name).drop_nulls().first())
    merged = norm.group_by("__group", maintain_order=True).agg(aggs)
    for name in lists:
        # United outside the aggregation: polars 2.1 leaves duplicates in a list made unique
        # inside group_by (or by list.unique) when the column has null lists, and a customer's
        # e-mail twice breaks the insert. A frame's unique is exact.
        united = (
            norm.select("__group", pl.col(name))
            .explode(name)
            .drop_nulls(name)
            .unique(maintain_order=True)
            .group_by("__group", maintain_order=True)
            .agg(pl.col(name))
        )
        merged = merged.join(united, on="__group", how="left", maintain_order="left")
    if {"birthday", "birth_month", "birth_day"} <= set(merged.columns):
        # One row's date wins over another's day without a year: the three must agree.
        dated = pl.col("birthday").is_not_null()
        merged = merged.with_columns(
            pl.when(dated)
            .then(pl.col("birthday").dt.month().cast(merged.schema["birth_month"]))
            .otherwise(pl.col("birth_month"))
            .alias("birth_month"),
            pl.when(dated)
            .then(pl.col("birthday").dt.day().cast(merged.schema["birth_day"]))
            .otherwise(pl.col("birth_day"))
            .alias("birth_day"),
        )
    return merged


def _text(frame: pl.DataFrame, name: str, length: int) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).fill_null("").str.slice(0, length).alias(name)
    return pl.lit("").alias(name)


def _true() -> str:
    return "1" if connection.vendor == "sqlite" else "TRUE"


def _customer_frame(new: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """The rows of new customers with every column the insert writes, computed in polars."""
    texts = {
        "last_name": 100,
        "first_name": 100,
        "middle_name": 100,
        "gender": 10,
        "company_name": 255,
        "inn": 12,
        "kpp": 9,
        "ogrn": 15,
        "bank_bic": 9,
        "bank_account": 20,
        "legal_address": 500,
        "notes": 100_000,
        "city": 100,
    }
    exprs = [_text(new, name, length) for name, length in texts.items()]
    frame = new.with_columns(exprs)
    kind = pl.col("kind") if "kind" in new.columns else pl.lit(None, dtype=pl.String)
    has_person = (pl.col("last_name") != "") | (pl.col("first_name") != "")
    frame = frame.with_columns(
        kind.fill_null(
            pl.when((pl.col("company_name") != "") & ~has_person)
            .then(pl.lit(CustomerKind.COMPANY.value))
            .otherwise(pl.lit(CustomerKind.PERSON.value))
        ).alias("kind")
    )
    stamp = sqlbulk.db_datetime(now)
    if "registered_at" in new.columns:
        registered = (
            pl.col("registered_at")
            .dt.replace_time_zone(settings.TIME_ZONE, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
        if connection.vendor == "sqlite":
            created = registered.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        else:
            created = registered
        frame = frame.with_columns(created.fill_null(pl.lit(stamp)).alias("created_at"))
    else:
        frame = frame.with_columns(pl.lit(stamp).alias("created_at"))
    if "birthday" in new.columns:
        birthday = pl.col("birthday")
        # A birthday without a year has its month and day only (birth_month, birth_day).
        month = birthday.dt.month().cast(pl.Int64)
        day = birthday.dt.day().cast(pl.Int64)
        if "birth_month" in new.columns and "birth_day" in new.columns:
            month = pl.coalesce(month, pl.col("birth_month").cast(pl.Int64))
            day = pl.coalesce(day, pl.col("birth_day").cast(pl.Int64))
        frame = frame.with_columns(
            month.alias("birth_month"),
            day.alias("birth_day"),
            (birthday.dt.strftime("%Y-%m-%d") if connection.vendor == "sqlite" else birthday).alias(
                "birthday"
            ),
        )
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("birthday"),
            pl.lit(None, dtype=pl.Int64).alias("birth_month"),
            pl.lit(None, dtype=pl.Int64).alias("birth_day"),
        )
    first_of = {"phones": "primary_phone", "emails": "primary_email"}
    for source, target in first_of.items():
        if source in new.columns:
            frame = frame.with_columns(pl.col(source).list.first().fill_null("").alias(target))
        else:
            frame = frame.with_columns(pl.lit("").alias(target))
    if "address" in new.columns:
        frame = frame.with_columns(pl.col("address").str.slice(0, 300))
    return frame.with_columns(
        pl.lit(stamp).alias("updated_at"),
        (pl.col("external_id") if "external_id" in new.columns else pl.lit(None, pl.String)).alias(
            "external_id"
        ),
        (pl.col("vip").fill_null(False) if "vip" in new.columns else pl.lit(False)).alias("vip"),
        pl.lit(None, dtype=pl.Int64).alias("created_by_id"),
    )


def _with_search_name(frame: pl.DataFrame) -> pl.DataFrame:
    """search_name as customers.normalize.search_key makes it, vectorised."""
    company = pl.when(pl.col("kind") == CustomerKind.COMPANY).then(pl.col("company_name"))
    joined = pl.concat_str(
        [company, pl.col("last_name"), pl.col("first_name"), pl.col("middle_name")],
        separator=" ",
        ignore_nulls=True,
    )
    fast = (
        joined.str.replace_all("ё", "е", literal=True)
        .str.replace_all("Ё", "Е", literal=True)
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" ")
        .str.slice(0, 400)
    )
    frame = frame.with_columns(joined.alias("__joined"))
    simple = frame["__joined"].str.contains(_SIMPLE_TEXT)
    frame = frame.with_columns(fast.alias("search_name"))
    if not simple.all():
        exotic = frame["__joined"].to_list()
        fixed = [
            search_key(text)[:400] if not ok else None
            for text, ok in zip(exotic, simple.to_list(), strict=True)
        ]
        frame = frame.with_columns(pl.Series("__fixed", fixed, dtype=pl.String)).with_columns(
            pl.coalesce("__fixed", "search_name").alias("search_name")
        )
    return frame


def _search_name(values: dict[str, Any]) -> str:
    return search_key(
        values.get("company_name") or "" if values.get("kind") == CustomerKind.COMPANY else "",
        values.get("last_name") or "",
        values.get("first_name") or "",
        values.get("middle_name") or "",
    )[:400]


def _explode(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """(customer id, value, is_first) for every element of a list column."""
    return (
        frame.select(pl.col("id").alias("customer_id"), pl.col(column).alias("value"))
        .with_columns(pl.int_ranges(0, pl.col("value").list.len()).alias("__pos"))
        .explode("value", "__pos")
        .filter(pl.col("value").is_not_null())
        .select("customer_id", "value", (pl.col("__pos") == 0).alias("is_first"))
    )


def _tag_ids(names: Iterable[str]) -> dict[str, int]:
    clean = sorted({name for name in names if name})
    for chunk in sqlbulk.chunks(clean):
        Tag.objects.bulk_create([Tag(name=n) for n in chunk], ignore_conflicts=True)
    result: dict[str, int] = {}
    for chunk in sqlbulk.chunks(clean):
        result.update(Tag.objects.filter(name__in=chunk).values_list("name", "id"))
    return result


def _consent_state(value: bool) -> str:
    return ConsentState.GRANTED if value else ConsentState.WITHDRAWN


def _current(ids: Sequence[int], *, lock: bool) -> dict[int, dict[str, Any]]:
    """Stored values of the matched customers with their contacts, tags and consents.

    One query per table for the whole batch (raw rows: dates and booleans are converted
    here as the ORM would).
    """
    result: dict[int, dict[str, Any]] = {}
    fields = [
        "id",
        "version",
        *SCALAR_FIELDS,
        "city",
        "primary_phone",
        "primary_email",
        "search_name",
    ]
    wanted = sorted(set(ids))
    for values in sqlbulk.select_in(Customer, fields, "id", wanted, lock=lock):
        row = dict(zip(fields, values, strict=True))
        if isinstance(row["birthday"], str):
            row["birthday"] = dt.date.fromisoformat(row["birthday"])
        row["vip"] = bool(row["vip"])
        row.update(phones=set(), emails=set(), tags=set(), addresses=set(), consents={})
        row["has_default_address"] = False
        result[row["id"]] = row
    for cid, number in sqlbulk.select_in(
        CustomerPhone, ["customer_id", "number"], "customer_id", wanted
    ):
        result[cid]["phones"].add(number)
    for cid, address in sqlbulk.select_in(
        CustomerEmail, ["customer_id", "address"], "customer_id", wanted
    ):
        result[cid]["emails"].add(address)
    links = list(
        sqlbulk.select_in(Customer.tags.through, ["customer_id", "tag_id"], "customer_id", wanted)
    )
    if links:
        names = dict(Tag.objects.filter(id__in={t for _c, t in links}).values_list("id", "name"))
        for cid, tag_id in links:
            result[cid]["tags"].add(names[tag_id])
    for cid, city, line, default in sqlbulk.select_in(
        Address, ["customer_id", "city", "line", "is_default"], "customer_id", wanted
    ):
        result[cid]["addresses"].add((city.casefold(), line.casefold()))
        result[cid]["has_default_address"] |= bool(default)
    for cid, channel, state in sqlbulk.select_in(
        Consent, ["customer_id", "channel", "state"], "customer_id", wanted
    ):
        result[cid]["consents"][channel] = state
    return result


def _plan(record: dict[str, Any], state: dict[str, Any], *, fill_only: bool) -> dict[str, Any]:
    """What differs between a merged file row and the stored customer; {} when nothing.

    `fill_only`: the customer already took values from an earlier row of this file, so
    this row may only fill empty fields (and add contacts, tags, consents not set yet).
    """
    fields: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        value = record.get(name)
        if value is None or value == state[name]:
            continue
        if name in PERSON_NAMES and _says_the_same(value, state[name]):
            continue  # "Петр" for "Пётр", "П." for "Пётр": no reason to overwrite
        if fill_only and state[name] not in (None, "", False):
            continue
        fields[name] = value
    if (
        ("birth_month" in fields or "birth_day" in fields)
        and record.get("birthday") is None
        and state["birthday"] is not None
    ):
        # A day without a year that is not the stored birthday's: the stored date goes.
        fields["birthday"] = None
    city = record.get("city")
    line = record.get("address")
    keep_city = fill_only and state["city"]
    if city is not None and line is None and city != state["city"] and not keep_city:
        fields["city"] = city[:100]
    phones = [p for p in record.get("phones") or [] if p not in state["phones"]]
    emails = [e for e in record.get("emails") or [] if e not in state["emails"]]
    tags = [t for t in record.get("tags") or [] if t not in state["tags"]]
    address = None
    if line is not None and ((city or "").casefold(), line.casefold()) not in state["addresses"]:
        address = (
            (record.get("postal_code") or "")[:12],
            (record.get("region") or "")[:100],
            (city or "")[:100],
            line[:300],
        )
    consents = {}
    for column, channel in CONSENT_FIELDS.items():
        value = record.get(column)
        if fill_only and state["consents"].get(channel):
            continue
        if value is not None and state["consents"].get(channel) != _consent_state(value):
            consents[channel] = _consent_state(value)
    if not (fields or phones or emails or tags or address or consents):
        return {}
    return {
        "fields": fields,
        "phones": phones,
        "emails": emails,
        "tags": tags,
        "address": address,
        "consents": consents,
    }


PERSON_NAMES = ("last_name", "first_name", "middle_name")


def _says_the_same(new: str, stored: str | None) -> bool:
    """A name from the file that adds nothing to the stored one: the same up to case and ё,
    or its initial."""
    if not stored:
        return False
    a, b = (v.casefold().replace("ё", "е") for v in (new, stored))
    return a == b or (re.fullmatch(r"\w\.?", a) is not None and b.startswith(a[0]))


def _shown(plan: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {k: _json(v) for k, v in plan["fields"].items()}
    for name in ("phones", "emails", "tags", "consents"):
        if plan[name]:
            shown[name] = plan[name]
    if plan["address"]:
        shown["address"] = ", ".join(p for p in plan["address"] if p)
    return shown


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "row": item["__row"],
        "fields": {
            k: _json(v) for k, v in item.items() if not k.startswith("__") and v not in (None, [])
        },
    }


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    return value


def _db(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return sqlbulk.db_datetime(value)
    if isinstance(value, dt.date) and connection.vendor == "sqlite":
        return value.isoformat()
    return value
