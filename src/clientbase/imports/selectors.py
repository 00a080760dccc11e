"""Reads for the import screens: jobs, and a dry run's examples made readable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clientbase.customers.models import Customer
from clientbase.imports.fields import fields_for
from clientbase.imports.models import ImportJob


def import_job_list(*, limit: int = 100) -> QuerySet[ImportJob]:
    """The newest jobs, everyone's: an import changes the shared base, so all may see it."""
    return ImportJob.objects.select_related("created_by", "undone_by").order_by(
        "-created_at", "-id"
    )[:limit]


def _labels(kind: str) -> dict[str, str]:
    """Field key -> label, with the names the importer uses for its merged columns."""
    labels = {key: str(target.label) for key, target in fields_for(kind).items()}
    labels.update(
        {
            "phones": labels.get("phone", _("Phones")),
            "emails": labels.get("email", _("E-mails")),
            "consents": _("Consent"),
        }
    )
    return labels


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
    values: list[tuple[str, str]] = field(default_factory=list)
    changes: list[ExampleChange] = field(default_factory=list)


def _customer_value(customer: Customer | None, key: str) -> Any:
    if customer is None:
        return None
    try:
        Customer._meta.get_field(key)
    except FieldDoesNotExist:
        return None
    value = getattr(customer, key, None)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def examples_for_screen(kind: str, examples: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict:
    """A report's examples by outcome, with labels, customer names and the values before.

    The importer records only the new values of an updated customer; before anything is
    written (the dry run) the stored customer still holds the old ones, so they are read here.
    """
    labels = _labels(kind)
    listed = {name: list(items) for name, items in examples.items()}
    ids = {
        int(item["customer"])
        for items in listed.values()
        for item in items
        if isinstance(item.get("customer"), int)
    }
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=ids)} if ids else {}
    shown: dict[str, list[Example]] = {}
    for name, items in listed.items():
        bucket = shown.setdefault(name, [])
        for item in items:
            customer_id = item.get("customer") if isinstance(item.get("customer"), int) else None
            customer = customers.get(customer_id) if customer_id else None
            example = Example(
                row=item.get("row"),
                customer_id=customer.pk if customer else None,
                customer_name=customer.display_name if customer else "",
            )
            for key, value in (item.get("fields") or {}).items():
                example.values.append((labels.get(key, key), shown_value(value)))
            for key, value in (item.get("changes") or {}).items():
                added = key in ("phones", "emails", "tags")
                before = "" if added else shown_value(_customer_value(customer, key))
                example.changes.append(
                    ExampleChange(labels.get(key, key), before, shown_value(value), added)
                )
            bucket.append(example)
    return shown
