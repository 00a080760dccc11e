"""Reads for the import screens: jobs, and a dry run's examples made readable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clientbase.accounts.choices import Role
from clientbase.core import file_fields
from clientbase.core.file_fields import fields_for
from clientbase.core.formatting import format_number, format_phone_number
from clientbase.customers.models import Customer
from clientbase.imports.models import ImportJob
from clientbase.orders.choices import OrderSource
from clientbase.orders.models import Order


def import_job_list(*, user: Any, limit: int = 100) -> QuerySet[ImportJob]:
    """The user's newest jobs; an administrator sees everyone's.

    A job keeps sample values and rejected rows of its file (personal data), so it is shown to
    the person who ran it, as export jobs are, and not to every holder of import.run.
    """
    jobs = ImportJob.objects.select_related("created_by", "undone_by")
    if user.role != Role.ADMIN:
        jobs = jobs.filter(created_by=user)
    return jobs.order_by("-created_at", "-id")[:limit]


def _labels(kind: str) -> dict[str, str]:
    """Field key -> label, with the names the importer uses for its merged columns."""
    labels = {key: str(target.label) for key, target in fields_for(kind).items()}
    labels.update(
        {
            "phones": labels.get("phone", _("Phones")),
            "emails": labels.get("email", _("E-mails")),
            "consents": _("Consent"),
            "items": _("Items"),
            "customer_id": _("Customer"),
        }
    )
    return labels


def _choice_labels(kind: str) -> dict[str, dict[str, str]]:
    """Choice field key -> stored value -> label in the active language."""
    model = Order if kind == "orders" else Customer
    labels = {}
    for key, target in fields_for(kind).items():
        if target.kind != file_fields.CHOICE:
            continue
        try:
            model_field = model._meta.get_field(key)
        except FieldDoesNotExist:
            continue
        choices = getattr(model_field, "choices", None) or []
        labels[key] = {str(value): str(label) for value, label in choices}
    return labels


def _value_kinds(kind: str) -> dict[str, str]:
    """Field key -> value kind, with the importer's merged contact columns."""
    kinds = {key: target.kind for key, target in fields_for(kind).items()}
    kinds.update({"phones": file_fields.PHONE, "emails": file_fields.EMAIL})
    return kinds


def _readable(value: Any, value_kind: str, choices: Mapping[str, str] | None) -> Any:
    """A stored value as the card shows it: formatted phones, local dates, money, labels."""
    if isinstance(value, list | tuple):
        return [_readable(item, value_kind, choices) for item in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    if choices is not None:
        return choices.get(str(value), value)
    if value_kind in (file_fields.PHONE,):
        return format_phone_number(value)
    if value_kind in (file_fields.MONEY, file_fields.DECIMAL):
        return format_number(value, 2 if value_kind == file_fields.MONEY else None)
    if value_kind in (file_fields.DATE, file_fields.DATETIME) and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if value_kind == file_fields.DATE:
            return formats.date_format(moment.date(), "SHORT_DATE_FORMAT")
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    return value


def _day_and_month(values: dict[str, Any]) -> None:
    """A birthday without a year is stored as its day and month: shown as one birthday."""
    if "birth_day" not in values and "birth_month" not in values:
        return
    day, month = values.pop("birth_day", None), values.pop("birth_month", None)
    if values.get("birthday") or not (day and month):
        return
    try:
        # As the card shows it: "24 августа (год неизвестен)".
        shown = formats.date_format(dt.date(2000, month, day), "j E")
        values["birthday"] = f"{shown} ({_('year unknown')})"
    except (TypeError, ValueError):
        return


def shown_value(value: Any) -> str:
    """A value of a report as one line of text: lists joined, empty as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple | set):
        return ", ".join(shown_value(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {shown_value(item)}" for key, item in value.items())
    return str(value)


@dataclass
class ExampleChange:
    label: str
    before: str
    after: str
    added: bool = False  # a contact or tag added beside the ones kept, not a replacement


@dataclass
class Example:
    row: int | None
    customer_id: int | None = None
    customer_name: str = ""
    order_id: int | None = None
    order_number: str = ""
    values: list[tuple[str, str]] = field(default_factory=list)
    changes: list[ExampleChange] = field(default_factory=list)


# Keys of a report example that say which row and record it is, not what the row holds.
_EXAMPLE_KEYS = ("row", "customer", "order", "fields", "changes", "before")


def _stored_value(record: Any, key: str) -> Any:
    """A model field's current value of `record`; None when it has no such field."""
    if record is None:
        return None
    try:
        type(record)._meta.get_field(key)
    except FieldDoesNotExist:
        return None
    value = getattr(record, key, None)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _orders_by_number(numbers: set[str]) -> dict[str, Order]:
    """Orders by number, an imported one first, as the order import matches them."""
    found: dict[str, Order] = {}
    for order in Order.objects.filter(external_id__in=numbers).order_by("id"):
        current = found.get(order.external_id)
        if current is None or (
            order.source == OrderSource.IMPORT and current.source != OrderSource.IMPORT
        ):
            found[order.external_id] = order
    return found


def examples_for_screen(kind: str, examples: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict:
    """A report's examples by outcome, with labels, links and the values before.

    The customer importer records the old values with each updated example; where an
    example has none (orders), the stored record is read, which is right before the run.
    """
    labels = _labels(kind)
    value_kinds = _value_kinds(kind)
    choices = _choice_labels(kind)

    # In the file fields' order, as the mapping screen lists them: a report stored as jsonb
    # (PostgreSQL) comes back with its keys reordered.
    position = {key: i for i, key in enumerate(fields_for(kind))}
    position.update({"phones": position.get("phone", 0), "emails": position.get("email", 0)})

    def in_order(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return sorted(values.items(), key=lambda kv: position.get(str(kv[0]), len(position)))

    def readable(key: Any, value: Any) -> str:
        return shown_value(_readable(value, value_kinds.get(str(key), ""), choices.get(str(key))))

    listed = {name: list(items) for name, items in examples.items()}
    items = [item for group in listed.values() for item in group]
    customer_ids = {int(i["customer"]) for i in items if isinstance(i.get("customer"), int)}
    numbers = {str(i["order"]) for i in items if i.get("order") not in (None, "")}
    customers = (
        {c.pk: c for c in Customer.objects.filter(pk__in=customer_ids)} if customer_ids else {}
    )
    orders = _orders_by_number(numbers) if numbers else {}
    shown: dict[str, list[Example]] = {}
    for name, group in listed.items():
        bucket = shown.setdefault(name, [])
        for item in group:
            raw_customer = item.get("customer")
            customer = customers.get(raw_customer) if isinstance(raw_customer, int) else None
            number = str(item["order"]) if item.get("order") not in (None, "") else ""
            order = orders.get(number) if number else None
            example = Example(
                row=item.get("row"),
                customer_id=customer.pk if customer else None,
                customer_name=customer.display_name if customer else "",
                order_id=order.pk if order else None,
                order_number=number,
            )
            values = dict(item.get("fields") or {})
            values.update({k: v for k, v in item.items() if k not in _EXAMPLE_KEYS})
            _day_and_month(values)
            for key, value in in_order(values):
                example.values.append((labels.get(str(key), str(key)), readable(key, value)))
            stored = order if kind == "orders" else customer
            recorded = dict(item.get("before") or {})
            changes = dict(item.get("changes") or {})
            if "birth_day" in changes or "birth_month" in changes:
                for key in ("birth_day", "birth_month"):
                    recorded.setdefault(key, _stored_value(stored, key))
                    changes.setdefault(key, recorded[key])
                _day_and_month(recorded)
                _day_and_month(changes)
                if "birthday" in changes and recorded.get("birthday") == changes["birthday"]:
                    del changes["birthday"]  # only the year was new
            for key, value in in_order(changes):
                added = key in ("phones", "emails", "tags")
                old = recorded[key] if key in recorded else _stored_value(stored, key)
                before = "" if added else readable(key, old)
                example.changes.append(
                    ExampleChange(
                        labels.get(str(key), str(key)), before, readable(key, value), added
                    )
                )
            bucket.append(example)
    return shown


def undo_conflicts(job: ImportJob) -> list[dict[str, Any]]:
    """The undo report's kept records, each with what it is (order or customer).

    An order import's list holds both its orders and the customers it created; the report
    does not say which is which, but orders are named by their number ("№…").
    """
    conflicts = []
    for conflict in (job.undo_report or {}).get("conflict_list") or []:
        what = conflict.get("type") or (
            "order"
            if job.kind == "orders" and str(conflict.get("name", "")).startswith("№")
            else "customer"
        )
        conflicts.append({**conflict, "type": what})
    return conflicts
