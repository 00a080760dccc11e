"""Order files: rows grouped into orders, customers found or created, orders written in sets.

Decisions (the user guide's "Order files" section says the same to users):

- Rows are grouped into orders by order number. Order-level values (date, totals, status,
  customer...) come from the first row of the order that has them, so a shop export that
  repeats them on every item row or gives them on the first row only reads the same. Every
  row with an item name or SKU is one item. A row with no order number, no date and no
  customer but with an item continues the order above it (merged spreadsheet cells).
- An order without a number gets one made from its customer key, date and total, so importing
  the same file again finds it; two identical rows of such a file are one order.
- Existing orders are matched by number in any source, an imported one first, else the
  oldest. New orders get source "import", the configured currency when the file has none,
  payment "other" when the file does not say, and status "delivered" when the file gives
  none: a file of past purchases lists what customers bought, and only delivered orders
  count as purchases in the statistics and analytics. The total, when absent, is subtotal
  (or the sum of the items) - discount + delivery.
- The customer is matched by customer id, e-mail and phone in the job's order (a customer id
  already in the base always matches, being unique). A new order whose customer is unknown
  creates that customer from the row (id, name, e-mail, phone), once however many orders name
  them. An existing order moves only to another existing customer: an unknown one is not
  created for it (a file keyed differently from the shop must not split customers).
- All rows of an order are accepted or rejected together, so an order is never written
  without some of its items; every rejected row is reported with its own reason.
- Counts are in orders (created, updated, unchanged); the further rows of a multi-row order
  count as merged, so accepted plus rejected rows still equal the rows of the file.
- Imported history is data, not events: no webhooks, no manager assignment, no timeline
  events and no stop-list proposals. The status history gets one entry per new order, dated
  when the order was placed (the only moment the file gives), as is delivered_at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import polars as pl
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from clientbase.customers.models import Customer
from clientbase.imports import sqlbulk
from clientbase.imports.choices import ChangeAction, ImportMode
from clientbase.imports.customer_import import CustomerImport, Outcome, existing_customers
from clientbase.imports.customer_undo import LISTED_CONFLICTS, remove_created_customers
from clientbase.imports.models import ImportChange, ImportJob
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod
from clientbase.orders.models import DAY_EPOCH, Order, OrderItem, OrderStatusChange, local_day
from clientbase.orders.services import customer_stats_refresh_many

EXAMPLES = 5
KEY = "__order"  # the order a row belongs to: its number, or one made from its contents
CUSTOMER_KEYS = {
    "external_id": "customer_external_id",
    "email": "customer_email",
    "phone": "customer_phone",
}
CUSTOMER_NAMES = ("customer_last_name", "customer_first_name", "customer_middle_name")
# A customer name that reads as a company ("ООО «Ромашка»") comes split into these two.
CUSTOMER_COMPANY = ("customer_company_name", "customer_kind")
MONEY = ("total", "subtotal", "discount", "delivery_cost")
ORDER_TEXT = {"currency": 3, "delivery_method": 100, "delivery_address": 500, "coupon": 50}
ITEM_FIELDS = ("item_sku", "item_name", "item_category", "item_quantity", "item_price")
# File field -> Order field, for the values an update compares and undo restores.
COMPARED = {
    "placed_at": "placed_at",
    "status": "status",
    "currency": "currency",
    "subtotal": "subtotal",
    "discount": "discount",
    "delivery_cost": "delivery_cost",
    "total": "total",
    "payment_method": "payment_method",
    "delivery_method": "delivery_method",
    "delivery_address": "address",
    "coupon": "coupon",
}
CURRENCY_SIGNS = {"РУБ": "RUB", "Р": "RUB", "₽": "RUB", "RUR": "RUB", "$": "USD", "€": "EUR"}
DERIVED_PREFIX = "F-"
# Labels of rows matched to an existing customer sit below every row index (see _with_customers).
_MATCHED = 1 << 62


class OrderImport:
    """Processes normalised batches of an order file for one job."""

    def __init__(self, job: ImportJob, *, write: bool) -> None:
        self.job = job
        self.write = write
        match_by = [k for k in job.match_by if k in CUSTOMER_KEYS]
        # A customer id is unique in the base, so it is a safe match even when not chosen;
        # without it a new customer could collide with an existing id.
        if "external_id" not in match_by:
            match_by.append("external_id")
        self.match_by = match_by
        self.now = timezone.now()
        self.headers = {
            key: job.headers[int(index)]
            for index, key in job.mapping.items()
            if key and int(index) < len(job.headers)
        }

    # -- batches

    def split_tail(self, norm: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Hold back the rows of the batch's last order: its items may go on in the next one."""
        if norm.is_empty():
            return norm, norm.clear()
        norm = with_order_keys(norm)
        last = norm[KEY][-1]
        # Everything from the order's first row on is held, so the rows written now all come
        # before the held ones and a resumed run (after the last written row) misses none.
        first = int(norm.select((pl.col(KEY) == last).arg_true().first()).item())
        if first == 0:
            # One order filling a whole batch: written now rather than held without end.
            return norm, norm.clear()
        return norm.head(first), norm.slice(first)

    def process(self, norm: pl.DataFrame) -> Outcome:
        """Reject, group, match and write one batch (or, in a dry run, count what it would do)."""
        outcome = Outcome()
        if norm.is_empty():
            return outcome
        norm = with_order_keys(norm)
        norm = self._reject_invalid(norm, outcome)
        if norm.is_empty():
            return outcome
        orders = _orders(norm)
        existing = _existing_orders(orders[KEY].to_list())
        orders = orders.with_columns(
            pl.Series(
                "__existing", [existing.get(k) for k in orders[KEY].to_list()], dtype=pl.Int64
            )
        )
        new_rows = pl.col("__existing").is_null()
        if self.job.mode == ImportMode.UPDATE:
            orders = self._reject_orders(
                orders,
                new_rows,
                _("No order with this number in the base (the import only updates)."),
                outcome,
            )
        # An existing order keeps its customer when the file does not name one.
        orders = self._reject_orders(
            orders,
            new_rows & ~pl.any_horizontal([pl.col(c).is_not_null() for c in self.key_columns]),
            _("The order names no customer: give its customer id, e-mail or phone."),
            outcome,
        )
        orders = self._reject_orders(
            orders,
            new_rows & pl.col("placed_at").is_null(),
            _("The order has no date."),
            outcome,
        )
        orders = self._reject_orders(
            orders,
            pl.col("placed_at").is_not_null() & pl.col("__placed_utc").is_null(),
            _("This time does not exist in the shop's time zone (the clocks changed)."),
            outcome,
        )
        if orders.is_empty():
            return outcome
        outcome.duplicates += int(orders["__rows"].sum()) - orders.height
        if self.job.mode == ImportMode.CREATE:
            old = orders.filter(~new_rows)
            outcome.unchanged += old.height
            for row, number in old.head(EXAMPLES).select("__row", KEY).iter_rows():
                outcome.example("unchanged", {"row": row, "order": number})
            orders = orders.filter(new_rows)
        orders = self._with_customers(orders, outcome)
        touched: set[int] = set()
        new = orders.filter(pl.col("__existing").is_null())
        if new.height:
            self._create(new, outcome)
            touched.update(new["__customer"].to_list())
        old = orders.filter(pl.col("__existing").is_not_null())
        if old.height:
            touched.update(self._update(old, outcome))
        if self.write and touched:
            _lock_customers(sorted(touched))
            customer_stats_refresh_many(sorted(touched))
        return outcome

    # -- rejections

    def _reject_invalid(self, norm: pl.DataFrame, outcome: Outcome) -> pl.DataFrame:
        """Rows the normaliser refused, and the other rows of their orders."""
        zero = pl.lit(False)
        if "item_quantity" in norm.columns:
            zero = pl.col("item_quantity") == 0
        norm = norm.with_columns(
            pl.when(pl.col("__error_reason").is_null() & zero.fill_null(False))
            .then(pl.lit(self.headers.get("item_quantity", "item_quantity")))
            .otherwise(pl.col("__error_column"))
            .alias("__error_column"),
            pl.when(pl.col("__error_reason").is_null() & zero.fill_null(False))
            .then(pl.lit("0"))
            .otherwise(pl.col("__error_value"))
            .alias("__error_value"),
            pl.when(pl.col("__error_reason").is_null() & zero.fill_null(False))
            .then(pl.lit(_("must be more than zero")))
            .otherwise(pl.col("__error_reason"))
            .alias("__error_reason"),
        )
        bad = norm.filter(pl.col("__error_reason").is_not_null())
        if bad.is_empty():
            return norm
        for row, column, value, reason in bad.select(
            "__row", "__error_column", "__error_value", "__error_reason"
        ).iter_rows():
            outcome.rejects.append((row, column or "", value or "", reason))
        first_bad = bad.group_by(KEY).agg(pl.col("__row").min().alias("__bad_row"))
        norm = norm.join(first_bad, on=KEY, how="left", maintain_order="left")
        fellows = norm.filter(
            pl.col("__bad_row").is_not_null() & pl.col("__error_reason").is_null()
        )
        for row, bad_row in fellows.select("__row", "__bad_row").iter_rows():
            outcome.rejects.append(
                (
                    row,
                    "",
                    "",
                    _("Another row of this order (row %(row)d) was rejected.") % {"row": bad_row},
                )
            )
        return norm.filter(pl.col("__bad_row").is_null()).drop("__bad_row")

    def _reject_orders(
        self, orders: pl.DataFrame, condition: pl.Expr, reason: str, outcome: Outcome
    ) -> pl.DataFrame:
        hit = orders.filter(condition)
        for rows in hit["__all_rows"].to_list():
            for row in rows:
                outcome.rejects.append((row, "", "", reason))
        return orders.filter(~condition)

    @property
    def key_columns(self) -> list[str]:
        """The file's customer key columns that take part in matching, in match order."""
        return [CUSTOMER_KEYS[k] for k in self.match_by]

    # -- customers

    def _with_customers(self, orders: pl.DataFrame, outcome: Outcome) -> pl.DataFrame:
        """Each order's customer: matched, created for a new order, or its current one (None).

        The same rules as customer_import.resolve_frame, on one key of each kind per order
        and without its matching by name (an order without a key was rejected): the first
        key kind in match order that finds a customer wins, the oldest when a contact is
        shared; unmatched orders sharing a key form one new customer, or join the customer a
        matched order with that key has; two existing customers are never merged.
        """
        matched = self._matched(orders)
        columns = self.key_columns
        labels = orders.select(columns).with_columns(
            matched.alias("__matched"),
            pl.when(matched.is_not_null())
            .then(matched - _MATCHED)
            .otherwise(pl.int_range(pl.len(), dtype=pl.Int64))
            .alias("__label"),
        )
        # Each unmatched row takes the smallest label among rows sharing any of its keys,
        # until nothing moves: connected components, with existing customers' labels lowest.
        while True:
            before = labels["__label"]
            for column in columns:
                labels = labels.with_columns(
                    pl.when(pl.col("__matched").is_null() & pl.col(column).is_not_null())
                    .then(pl.col("__label").min().over(column))
                    .otherwise(pl.col("__label"))
                    .alias("__label")
                )
            if labels["__label"].equals(before):
                break
        label = labels["__label"]
        orders = orders.with_columns(
            pl.Series("__group", label),
            pl.when(matched.is_not_null())
            .then(matched)
            .when(label < 0)
            .then(label + _MATCHED)
            .alias("__customer"),
        )
        wanting = orders.filter(pl.col("__customer").is_null() & pl.col("__existing").is_null())
        if wanting.is_empty():
            return orders
        created = self._create_customers(wanting, outcome)
        orders = orders.join(created, on="__group", how="left", maintain_order="left")
        return orders.with_columns(
            pl.when(pl.col("__existing").is_null())
            .then(pl.coalesce("__customer", "__new_customer"))
            .otherwise(pl.col("__customer"))
            .alias("__customer")
        ).drop("__new_customer")

    def _matched(self, orders: pl.DataFrame) -> pl.Series:
        """Each order's existing customer by its keys, in match order (or null)."""
        found: list[pl.Expr] = []
        frame = orders.select(self.key_columns)
        for kind in self.match_by:
            column = CUSTOMER_KEYS[kind]
            values = frame[column].drop_nulls().unique().sort().to_list()
            ids = _customer_ids(kind, values).rename(
                {"value": column, "customer_id": f"__found_{kind}"}
            )
            frame = frame.join(ids, on=column, how="left", maintain_order="left")
            found.append(pl.col(f"__found_{kind}"))
        return frame.select(pl.coalesce(found).alias("__matched")).to_series()

    def _create_customers(self, wanting: pl.DataFrame, outcome: Outcome) -> pl.DataFrame:
        """One new customer per group of orders with no match: (__group, __new_customer)."""
        people = wanting.group_by("__group", maintain_order=True).agg(
            pl.col("__row").first(),
            pl.col("customer_external_id").drop_nulls().first().alias("external_id"),
            pl.col("customer_last_name").drop_nulls().first().alias("last_name"),
            pl.col("customer_first_name").drop_nulls().first().alias("first_name"),
            pl.col("customer_middle_name").drop_nulls().first().alias("middle_name"),
            # "ООО Ромашка" in the customer's name column is a company (normalize splits it so).
            pl.col("customer_company_name").drop_nulls().first().alias("company_name"),
            pl.col("customer_kind").drop_nulls().first().alias("kind"),
            pl.col("customer_phone").drop_nulls().unique(maintain_order=True).alias("phones"),
            pl.col("customer_email").drop_nulls().unique(maintain_order=True).alias("emails"),
        )
        if not self.write:
            # A dry run creates nobody; the orders are counted as new all the same.
            return people.select("__group", pl.lit(0, dtype=pl.Int64).alias("__new_customer"))
        created = Outcome()
        CustomerImport(self.job, write=True)._create(people, created)
        outcome.created_customer_ids.extend(created.created_ids)
        # The customer importer may write its rows in any order, so each new customer is
        # found again by one of its keys (every group has one: keyless orders were rejected).
        people = people.select(
            "__group",
            "external_id",
            pl.col("emails").list.first().alias("email"),
            pl.col("phones").list.first().alias("phone"),
            pl.lit(None, dtype=pl.Int64).alias("__new_customer"),
        )
        for kind in self.match_by:
            wanted = people.filter(pl.col("__new_customer").is_null() & pl.col(kind).is_not_null())
            if wanted.is_empty():
                continue
            ids = _customer_ids(kind, wanted[kind].sort().to_list()).rename(
                {"value": kind, "customer_id": "__id"}
            )
            people = (
                people.join(ids, on=kind, how="left", maintain_order="left")
                .with_columns(pl.coalesce("__new_customer", "__id").alias("__new_customer"))
                .drop("__id")
            )
        return people.select("__group", "__new_customer")

    # -- new orders, as sets

    def _create(self, new: pl.DataFrame, outcome: Outcome) -> None:
        outcome.created += new.height
        for item in new.head(EXAMPLES).iter_rows(named=True):
            outcome.example(
                "created",
                {
                    "row": item["__row"],
                    "order": item[KEY],
                    "placed_at": item["placed_at"].isoformat(),
                    "total": _cents_text(item["__total"]),
                    "status": item["__status"],
                },
            )
        if not self.write:
            return
        # In customer order: two of the order indexes lead with the customer, so sorted rows
        # extend them at fewer places (measured some 10-20 % faster on a million orders).
        new = new.sort("__customer", maintain_order=True)
        ids = sqlbulk.allocate_ids(Order, new.height)
        outcome.created_ids.extend(ids)
        new = new.with_columns(pl.Series("id", ids, dtype=pl.Int64))
        stamp = sqlbulk.db_datetime(self.now)
        placed = _db_moment(pl.col("__placed_utc"))
        frame = new.select(
            "id",
            pl.col(KEY).alias("external_id"),
            pl.col("__customer").alias("customer_id"),
            placed.alias("placed_at"),
            pl.col("__placed_day").alias("placed_day"),
            pl.col("__status").alias("status"),
            pl.col("currency").fill_null(settings.ORDER_CURRENCY).alias("currency"),
            *(_money_text(f"__{name}").alias(name) for name in MONEY),
            pl.col("payment_method").fill_null(PaymentMethod.OTHER).alias("payment_method"),
            pl.col("delivery_method").fill_null(""),
            pl.col("delivery_address").fill_null("").alias("address"),
            pl.when(pl.col("__status") == OrderStatus.DELIVERED).then(placed).alias("delivered_at"),
            pl.col("coupon").fill_null(""),
        )
        sqlbulk.insert_rows(
            Order,
            [*frame.columns, "created_at", "updated_at"],
            ((*row, stamp, stamp) for row in frame.iter_rows()),
            constants={
                "source": f"'{OrderSource.IMPORT.value}'",
                "promised_delivery": "NULL",
                "manager_id": "NULL",
            },
        )
        items = _items(new)
        if items.height:
            sqlbulk.insert_rows(
                OrderItem,
                ["order_id", "sku", "name", "category", "quantity", "price"],
                items.iter_rows(),
            )
        actor = self.job.created_by_id
        sqlbulk.insert_rows(
            OrderStatusChange,
            ["order_id", "status", "at"],
            frame.select("id", "status", "placed_at").iter_rows(),
            constants={"actor_id": str(int(actor)) if actor else "NULL"},
        )

    # -- existing orders: compare, then change only what differs

    def _update(self, old: pl.DataFrame, outcome: Outcome) -> set[int]:
        """Apply the file's values to existing orders that differ; their customers (old, new)."""
        same = _same_as_stored(old)
        for row, number in old.filter(same).head(EXAMPLES).select("__row", KEY).iter_rows():
            outcome.example("unchanged", {"row": row, "order": number})
        outcome.unchanged += int(same.sum())
        old = old.filter(~same)
        records = old.to_dicts()
        ids = [int(r["__existing"]) for r in records]
        with_items = [int(r["__existing"]) for r in records if r["__items"]]
        current = _current_orders(ids, with_items, lock=self.write)
        touched: set[int] = set()
        plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for record in records:
            state = current.get(int(record["__existing"]))
            if state is None:  # deleted since the lookup (PostgreSQL without the lock)
                outcome.rejects.append(
                    (record["__row"], "", "", _("The matching order was deleted meanwhile."))
                )
                continue
            plan = _plan(record, state)
            if not plan:
                outcome.unchanged += 1
                outcome.example("unchanged", {"row": record["__row"], "order": record[KEY]})
                continue
            outcome.updated += 1
            outcome.example(
                "updated",
                {
                    "row": record["__row"],
                    "order": record[KEY],
                    "changes": {k: _json(v) for k, v in plan["fields"].items()}
                    | ({"items": len(plan["items"])} if plan["items"] is not None else {}),
                },
            )
            plans.append((record, state, plan))
            touched.add(state["customer_id"])
            touched.add(plan["fields"].get("customer_id", state["customer_id"]))
        if self.write and plans:
            self._apply(plans)
        return touched

    def _apply(self, plans: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
        now = sqlbulk.db_datetime(self.now)
        by_shape: dict[tuple[str, ...], list[list[Any]]] = {}
        changes: list[ImportChange] = []
        items: list[tuple[Any, ...]] = []
        replaced: list[int] = []
        history: list[tuple[int, str, Any]] = []
        for _record, state, plan in plans:
            order_id = state["id"]
            values = dict(plan["fields"])
            before: dict[str, Any] = {"fields": {k: _json(state[k]) for k in values}}
            if "status" in values:
                history.append((order_id, values["status"], now))
                before["status_change_at"] = self.now.isoformat()
                if values["status"] == OrderStatus.DELIVERED and state["delivered_at"] is None:
                    values["delivered_at"] = self.now
                    before["fields"]["delivered_at"] = None
            if "placed_at" in values:
                values["placed_day"] = local_day(values["placed_at"])
                before["fields"]["placed_day"] = state["placed_day"]
            if plan["items"] is not None:
                before["items"] = [_json_item(i) for i in state["items"]]
                replaced.append(order_id)
                items += [(order_id, *item) for item in plan["items"]]
            shape = tuple(sorted(values))
            by_shape.setdefault(shape, []).append([_db(values[k]) for k in shape] + [now, order_id])
            changes.append(
                ImportChange(
                    job=self.job, action=ChangeAction.UPDATED, object_id=order_id, before=before
                )
            )
        for shape, rows in by_shape.items():
            sqlbulk.update_rows(Order, [*shape, "updated_at"], rows, where='"id" = %s')
        for chunk in sqlbulk.chunks(replaced):
            OrderItem.objects.filter(order_id__in=chunk).delete()
        sqlbulk.insert_rows(
            OrderItem, ["order_id", "sku", "name", "category", "quantity", "price"], items
        )
        actor = self.job.created_by_id
        sqlbulk.insert_rows(
            OrderStatusChange,
            ["order_id", "status", "at"],
            history,
            constants={"actor_id": str(int(actor)) if actor else "NULL"},
        )
        ImportChange.objects.bulk_create(changes, batch_size=2000)


# ---------------------------------------------------------------- rows into orders


def with_order_keys(norm: pl.DataFrame) -> pl.DataFrame:
    """`__order` for every row: its order number, or one made from its customer, date, total.

    A row that continues the order above it (an item with no number, date or customer of
    its own) takes that order's key.
    """
    norm = _present(norm, ("order_id", "placed_at", *CUSTOMER_KEYS.values(), "total"))
    norm = _present(norm, ("item_name", "item_sku"))
    has_item = pl.col("item_name").is_not_null() | pl.col("item_sku").is_not_null()
    continues = (
        pl.col("order_id").is_null()
        & pl.col("placed_at").is_null()
        & pl.all_horizontal([pl.col(c).is_null() for c in CUSTOMER_KEYS.values()])
        & has_item
    )
    # The very first row starts an order even if it looks like a continuation.
    starts = ~continues | (pl.int_range(pl.len()) == 0)
    norm = norm.with_columns(starts.cum_sum().alias("__segment"))
    heads = norm.filter(starts)
    derived = heads.filter(pl.col("order_id").is_null())
    made: list[str | None] = []
    if derived.height:
        for ext, email, phone, placed, total in derived.select(
            "customer_external_id", "customer_email", "customer_phone", "placed_at", "total"
        ).iter_rows():
            made.append(_derived_number(ext, email, phone, placed, total))
    derived = derived.select("__segment", pl.Series("__made", made, dtype=pl.String))
    keys = heads.select("__segment", "order_id").join(
        derived, on="__segment", how="left", maintain_order="left"
    )
    keys = keys.select("__segment", pl.coalesce("order_id", "__made").alias(KEY))
    return norm.drop([c for c in (KEY,) if c in norm.columns]).join(
        keys, on="__segment", how="left", maintain_order="left"
    )


def _present(norm: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """The frame with every named field, empty where the file does not map it."""
    missing = [name for name in names if name not in norm.columns]
    return norm.with_columns(pl.lit(None, dtype=_dtype(name)).alias(name) for name in missing)


def _dtype(name: str) -> Any:
    if name == "placed_at":
        return pl.Datetime("us")
    if name in MONEY or name == "item_price":
        return pl.Decimal(14, 2)
    if name == "item_quantity":
        return pl.Decimal(12, 3)
    return pl.String


def _derived_number(
    external_id: str | None,
    email: str | None,
    phone: str | None,
    placed: dt.datetime | None,
    total: Decimal | None,
) -> str:
    customer = (
        f"id:{external_id}"
        if external_id
        else f"email:{email}"
        if email
        else f"phone:{phone}"
        if phone
        else ""
    )
    text = f"{customer}|{placed.isoformat() if placed else ''}|{total if total is not None else ''}"
    return DERIVED_PREFIX + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _orders(norm: pl.DataFrame) -> pl.DataFrame:
    """One row per order: first non-empty order values, its items, totals in cents, dates."""
    norm = _present(
        norm,
        (
            "placed_at",
            "status",
            "payment_method",
            *MONEY,
            *ORDER_TEXT,
            *CUSTOMER_KEYS.values(),
            *CUSTOMER_NAMES,
            *CUSTOMER_COMPANY,
            *ITEM_FIELDS,
        ),
    )
    norm = norm.with_columns(
        (pl.col("item_name").is_not_null() | pl.col("item_sku").is_not_null()).alias("__is_item"),
        (pl.col("item_price").fill_null(0) * 100).cast(pl.Int128).alias("__price_cents"),
        (pl.col("item_quantity").fill_null(1) * 1000).cast(pl.Int128).alias("__qty_milli"),
    )
    first = [
        pl.col(c).drop_nulls().first()
        for c in (
            "placed_at",
            "status",
            "payment_method",
            *MONEY,
            *ORDER_TEXT,
            *CUSTOMER_KEYS.values(),
            *CUSTOMER_NAMES,
            *CUSTOMER_COMPANY,
        )
    ]
    item = pl.col("__is_item")
    line_value = (pl.col("__price_cents") * pl.col("__qty_milli")).filter(item)
    orders = norm.group_by(KEY, maintain_order=True).agg(
        pl.col("__row").first(),
        pl.col("__row").alias("__all_rows"),
        pl.len().alias("__rows"),
        *first,
        item.any().alias("__has_items"),
        line_value.sum().alias("__items_value"),  # cents x 1/1000 of a unit
        pl.struct(
            pl.col("item_sku").fill_null("").str.slice(0, 100).alias("sku"),
            pl.coalesce("item_name", "item_sku").str.slice(0, 300).alias("name"),
            pl.col("item_category").fill_null("").str.slice(0, 200).alias("category"),
            pl.col("item_quantity").fill_null(Decimal(1)).alias("quantity"),
            pl.col("item_price").fill_null(Decimal(0)).alias("price"),
        )
        .filter(item)
        .alias("__items"),
    )
    cents = {name: (pl.col(name) * 100).cast(pl.Int64) for name in MONEY}
    items_subtotal = _half_even_div(pl.col("__items_value"), 1000)
    discount, delivery = cents["discount"].fill_null(0), cents["delivery_cost"].fill_null(0)
    # With only a total (a "customer, date, amount" file) the subtotal is what the total
    # implies, so that total = subtotal - discount + delivery holds for every imported order.
    subtotal = pl.coalesce(
        cents["subtotal"],
        pl.when(pl.col("__has_items")).then(items_subtotal),
        pl.max_horizontal(cents["total"] + discount - delivery, 0),
        pl.lit(0),
    )
    derived_total = pl.max_horizontal(subtotal - discount + delivery, 0)
    tz = str(settings.TIME_ZONE)
    placed_utc = (
        pl.col("placed_at")
        .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    orders = orders.with_columns(
        subtotal.alias("__subtotal"),
        discount.alias("__discount"),
        delivery.alias("__delivery_cost"),
        pl.coalesce(cents["total"], derived_total).alias("__total"),
        # Totals the file gives, directly or through its parts: what an update may change.
        pl.coalesce(
            cents["total"],
            pl.when(cents["subtotal"].is_not_null() | pl.col("__has_items")).then(derived_total),
        ).alias("__file_total"),
        pl.when(cents["subtotal"].is_not_null() | pl.col("__has_items"))
        .then(subtotal)
        .alias("__file_subtotal"),
        pl.col("status").fill_null(OrderStatus.DELIVERED).alias("__status"),
        *(
            pl.col(name).str.slice(0, length)
            for name, length in ORDER_TEXT.items()
            if name != "currency"
        ),
        _currency(pl.col("currency")).alias("currency"),
        placed_utc.alias("__placed_utc"),
    )
    return orders.with_columns(
        (pl.col("__placed_utc").dt.convert_time_zone(tz).dt.date() - pl.lit(DAY_EPOCH))
        .dt.total_days()
        .cast(pl.Int64)
        .alias("__placed_day"),
        pl.when(pl.col("__has_items")).then(pl.col("__items")).alias("__items"),
    )


def _currency(text: pl.Expr) -> pl.Expr:
    """An ISO code from what shops write in a currency column ("руб", "₽", "$", "usd")."""
    code = text.str.strip_chars(" .").str.to_uppercase()
    return code.replace(CURRENCY_SIGNS).str.slice(0, 3)


def _half_even_div(value: pl.Expr, divisor: int) -> pl.Expr:
    """value / divisor rounded half to even, as Decimal.quantize does (non-negative values)."""
    quotient = value // divisor
    remainder = value % divisor
    up = (remainder * 2 > divisor) | ((remainder * 2 == divisor) & (quotient % 2 == 1))
    return (quotient + up.cast(pl.Int128)).cast(pl.Int64)


def _items(new: pl.DataFrame) -> pl.DataFrame:
    return (
        new.filter(pl.col("__items").is_not_null())
        .select("id", "__items")
        .explode("__items")
        .unnest("__items")
        .select(
            pl.col("id").alias("order_id"),
            "sku",
            "name",
            "category",
            pl.col("quantity").cast(pl.String),
            pl.col("price").cast(pl.String),
        )
    )


# ---------------------------------------------------------------- database reads


def _existing_orders(numbers: Sequence[str]) -> dict[str, int]:
    """Existing order ids by number, in any source: an imported order first, else the oldest."""
    if not numbers:
        return {}
    table = Order._meta.db_table
    sources = list(OrderSource.values)
    marks = ", ".join(["%s"] * len(sources))
    found: dict[str, tuple[int, int]] = {}
    # Naming every source lets the (source, external_id) unique index serve the lookup.
    with connection.cursor() as cursor:
        for chunk in sqlbulk.chunks(sorted(set(numbers))):
            inner = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f'SELECT "external_id", "source", "id" FROM "{table}" '  # noqa: S608
                f'WHERE "source" IN ({marks}) AND "external_id" IN ({inner})',
                [*sources, *chunk],
            )
            for number, source, order_id in cursor.fetchall():
                rank = 0 if source == OrderSource.IMPORT else 1
                best = found.get(number)
                if best is None or (rank, order_id) < best:
                    found[number] = (rank, order_id)
    return {number: order_id for number, (_rank, order_id) in found.items()}


def _customer_ids(kind: str, values: Sequence[str]) -> pl.DataFrame:
    """(value, customer_id) of existing customers by external id, e-mail or phone."""
    return pl.DataFrame(
        existing_customers(kind, values),
        schema={"value": pl.String, "customer_id": pl.Int64},
        orient="row",
    )


def _same_as_stored(old: pl.DataFrame) -> pl.Series:
    """Orders whose stored values already equal everything the file gives, found in sets.

    A re-imported file is mostly such orders; comparing raw columns (moments, cents, items as
    one canonical string) spares them the per-order comparison below. It only ever
    answers "same" on exact equality, so anything else still goes through _plan.
    """
    if old.is_empty():
        return pl.Series(dtype=pl.Boolean)
    sqlite = connection.vendor == "sqlite"
    wanted = "(SELECT value FROM json_each(%s))" if sqlite else "(SELECT unnest(%s::bigint[]))"
    ids = sorted(set(old["__existing"].to_list()))
    param: Any = json.dumps(ids) if sqlite else ids
    orders, items = Order._meta.db_table, OrderItem._meta.db_table
    text = dict.fromkeys(("status", "currency", "payment_method"), pl.String)
    text |= {"delivery_method": pl.String, "delivery_address": pl.String, "coupon": pl.String}
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT "id", "customer_id", "placed_at", "status", "currency", '  # noqa: S608
            '"payment_method", "delivery_method", "address", "coupon", '
            + ", ".join(f'CAST(ROUND("{m}" * 100) AS BIGINT)' for m in MONEY)
            + f' FROM "{orders}" WHERE "id" IN {wanted}',
            [param],
        )
        stored = pl.DataFrame(
            cursor.fetchall(),
            schema={
                "__existing": pl.Int64,
                "__stored_customer": pl.Int64,
                # Django's SQLite converter gives naive UTC datetimes, PostgreSQL aware ones.
                "__stored_placed": pl.Datetime("us", None if sqlite else "UTC"),
                **{f"__stored_{name}": dtype for name, dtype in text.items()},
                **{f"__stored_{name}": pl.Int64 for name in MONEY},
            },
            orient="row",
        )
        with_items = old.filter(pl.col("__items").is_not_null())["__existing"].to_list()
        cursor.execute(
            f'SELECT "order_id", "sku", "name", "category", '  # noqa: S608
            f'CAST(ROUND("quantity" * 1000) AS BIGINT), CAST(ROUND("price" * 100) AS BIGINT) '
            f'FROM "{items}" WHERE "order_id" IN {wanted}',
            [json.dumps(with_items) if sqlite else with_items],
        )
        stored_items = pl.DataFrame(
            cursor.fetchall(),
            schema={
                "__existing": pl.Int64,
                "sku": pl.String,
                "name": pl.String,
                "category": pl.String,
                "milli": pl.Int64,
                "cents": pl.Int64,
            },
            orient="row",
        )
    given_items = (
        old.filter(pl.col("__items").is_not_null())
        .select("__existing", "__items")
        .explode("__items")
        .unnest("__items")
        .select(
            "__existing",
            "sku",
            "name",
            "category",
            (pl.col("quantity") * 1000).cast(pl.Int64).alias("milli"),
            (pl.col("price") * 100).cast(pl.Int64).alias("cents"),
        )
    )
    frame = old.join(stored, on="__existing", how="left", maintain_order="left")
    frame = frame.join(
        _canonical_items(stored_items).rename({"__canon": "__stored_items"}),
        on="__existing",
        how="left",
        maintain_order="left",
    ).join(
        _canonical_items(given_items).rename({"__canon": "__given_items"}),
        on="__existing",
        how="left",
        maintain_order="left",
    )
    placed = pl.col("__placed_utc")
    if sqlite:
        placed = placed.dt.replace_time_zone(None)
    file_money = {
        "subtotal": "__file_subtotal",
        "discount": "__discount_given",
        "delivery_cost": "__delivery_given",
        "total": "__file_total",
    }
    frame = frame.with_columns(
        pl.when(pl.col("discount").is_not_null())
        .then(pl.col("__discount"))
        .alias("__discount_given"),
        pl.when(pl.col("delivery_cost").is_not_null())
        .then(pl.col("__delivery_cost"))
        .alias("__delivery_given"),
    )

    def agrees(given: pl.Expr, stored: pl.Expr) -> pl.Expr:
        return given.is_null() | (given == stored).fill_null(False)

    same = pl.all_horizontal(
        pl.col("__stored_customer").is_not_null(),  # deleted since: the slow path reports it
        agrees(pl.col("__customer"), pl.col("__stored_customer")),
        agrees(placed, pl.col("__stored_placed")),
        *(agrees(pl.col(name), pl.col(f"__stored_{name}")) for name in text),
        *(agrees(pl.col(given), pl.col(f"__stored_{name}")) for name, given in file_money.items()),
        agrees(pl.col("__given_items"), pl.col("__stored_items").fill_null("")),
    )
    return frame.select(same.alias("__same")).to_series()


def _canonical_items(items: pl.DataFrame) -> pl.DataFrame:
    """(__existing, __canon): an order's items as one string, the same whatever their order."""
    line = pl.concat_str(
        [
            pl.col("sku"),
            pl.col("name"),
            pl.col("category"),
            pl.col("milli").cast(pl.String),
            pl.col("cents").cast(pl.String),
        ],
        separator="\x1f",
    )
    return (
        items.select("__existing", line.alias("__line"))
        .sort("__existing", "__line")
        .group_by("__existing")
        .agg(pl.col("__line").str.join("\x1e").alias("__canon"))
    )


def _current_orders(
    ids: Sequence[int], with_items: Sequence[int], *, lock: bool
) -> dict[int, dict[str, Any]]:
    fields = ["id", "customer_id", "placed_day", "delivered_at", "updated_at", *COMPARED.values()]
    result: dict[int, dict[str, Any]] = {}
    for chunk in sqlbulk.chunks(sorted(set(ids))):
        query = Order.objects.filter(id__in=chunk)
        if lock and connection.vendor == "postgresql":
            query = query.select_for_update()
        for row in query.values(*fields):
            row["items"] = []
            result[row["id"]] = row
    for chunk in sqlbulk.chunks(sorted(set(with_items))):
        for order_id, *item in (
            OrderItem.objects.filter(order_id__in=chunk)
            .order_by("id")
            .values_list("order_id", "sku", "name", "category", "quantity", "price")
        ):
            if order_id in result:
                result[order_id]["items"].append(tuple(item))
    return result


def _lock_customers(ids: Sequence[int]) -> None:
    """On PostgreSQL, lock the customers whose statistics change, as order_upsert does."""
    if connection.vendor != "postgresql":
        return  # SQLite's write transaction already serialises every writer
    for chunk in sqlbulk.chunks(ids):
        list(Customer.objects.select_for_update().filter(id__in=chunk).values_list("id"))


# ---------------------------------------------------------------- comparing


def _plan(record: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """What differs between the file's order and the stored one; {} when nothing."""
    wanted: dict[str, Any] = {}
    if record["__placed_utc"] is not None:
        wanted["placed_at"] = record["__placed_utc"]
    for name in ("status", "payment_method", *ORDER_TEXT):
        if record.get(name) is not None:
            wanted[COMPARED.get(name, name)] = record[name]
    if record["__file_subtotal"] is not None:
        wanted["subtotal"] = _cents(record["__file_subtotal"])
    for name in ("discount", "delivery_cost"):
        if record.get(name) is not None:
            wanted[name] = _cents(record[f"__{name}"])
    if record["__file_total"] is not None:
        wanted["total"] = _cents(record["__file_total"])
    if record["__customer"] is not None and record["__customer"] != state["customer_id"]:
        wanted["customer_id"] = record["__customer"]
    fields = {name: value for name, value in wanted.items() if value != state.get(name)}
    items = None
    if record["__items"]:
        given = [
            (i["sku"], i["name"], i["category"], Decimal(i["quantity"]), Decimal(i["price"]))
            for i in record["__items"]
        ]
        if sorted(given) != sorted(state["items"]):
            items = given
    if not fields and items is None:
        return {}
    return {"fields": fields, "items": items}


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def _cents_text(value: int) -> str:
    return str(_cents(value))


def _money_text(column: str) -> pl.Expr:
    """Cents as the text of a decimal amount ("1234.50"), which both databases store exactly."""
    cents = pl.col(column)
    return pl.concat_str(
        [(cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)]
    )


def _db_moment(moment: pl.Expr) -> pl.Expr:
    """A UTC moment as Django writes it: naive text on SQLite (no fraction when whole)."""
    if connection.vendor != "sqlite":
        return moment
    naive = moment.dt.replace_time_zone(None)
    return (
        pl.when(naive.dt.microsecond() == 0)
        .then(naive.dt.strftime("%Y-%m-%d %H:%M:%S"))
        .otherwise(naive.dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))
    )


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _json_item(item: Sequence[Any]) -> list[Any]:
    return [_json(v) for v in item]


def _db(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return sqlbulk.db_datetime(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


# ---------------------------------------------------------------- undo


def undo_orders(job: ImportJob) -> dict[str, Any]:
    """Remove the orders the job created and restore the ones it changed, then its customers.

    Orders changed after the import finished are kept and listed: undo never overwrites
    later work. Customers the job created go when they have no orders left and were not
    edited. The statistics of every customer concerned are recomputed.
    """
    finished = job.finished_at or timezone.now()
    touched: set[int] = set()
    conflicts: list[dict[str, Any]] = []
    created = [
        order_id
        for ranges in job.batches.values_list("created_ranges", flat=True)
        for order_id in sqlbulk.expand(ranges)
    ]
    removed = 0
    for chunk in sqlbulk.chunks(created):
        deletable = []
        for order_id, number, customer_id, updated_at in Order.objects.filter(
            id__in=chunk
        ).values_list("id", "external_id", "customer_id", "updated_at"):
            touched.add(customer_id)
            if updated_at > finished:
                conflicts.append(_conflict(order_id, number))
            else:
                deletable.append(order_id)
        if deletable:
            removed += len(deletable)
            Order.objects.filter(id__in=deletable).delete()
    restored = 0
    now = timezone.now()
    for change in ImportChange.objects.filter(job=job).order_by("id").iterator(chunk_size=2000):
        order = Order.objects.filter(id=change.object_id).first()
        if order is None:
            continue  # deleted since: nothing to restore
        touched.add(order.customer_id)
        if order.updated_at > finished:
            conflicts.append(_conflict(order.pk, order.external_id))
            continue
        values = {name: _restored(name, value) for name, value in change.before["fields"].items()}
        values.pop("placed_day", None)  # Order.objects.update derives it from placed_at
        Order.objects.filter(id=order.pk).update(**values, updated_at=now)
        touched.add(values.get("customer_id", order.customer_id))
        if "items" in change.before:
            OrderItem.objects.filter(order_id=order.pk).delete()
            OrderItem.objects.bulk_create(
                OrderItem(
                    order_id=order.pk,
                    sku=sku,
                    name=name,
                    category=category,
                    quantity=Decimal(quantity),
                    price=Decimal(price),
                )
                for sku, name, category, quantity, price in change.before["items"]
            )
        if change.before.get("status_change_at"):
            OrderStatusChange.objects.filter(
                order_id=order.pk,
                at=dt.datetime.fromisoformat(change.before["status_change_at"]),
            ).delete()
        restored += 1
    created_customers = [
        customer_id
        for ranges in job.batches.values_list("created_customer_ranges", flat=True)
        for customer_id in sqlbulk.expand(ranges)
    ]
    customers_removed, kept_customers = remove_created_customers(created_customers)
    conflicts += kept_customers
    customer_stats_refresh_many(sorted(touched))
    return {
        "removed": removed,
        "restored": restored,
        "customers_removed": customers_removed,
        "conflicts": len(conflicts),
        "conflict_list": conflicts[:LISTED_CONFLICTS],
    }


def _conflict(order_id: int, number: str) -> dict[str, Any]:
    return {"id": order_id, "name": f"№{number}", "reason": _("edited after the import")}


def _restored(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in ("placed_at", "delivered_at"):
        moment = parse_datetime(value)
        return moment
    if name in MONEY:
        return Decimal(value)
    return value
