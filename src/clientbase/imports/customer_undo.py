"""Undo of a customer import: remove the customers it created, restore the ones it changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.customers.models import (
    Address,
    Consent,
    Customer,
    CustomerEmail,
    CustomerPhone,
)
from clientbase.imports import sqlbulk
from clientbase.imports.models import ImportChange, ImportJob
from clientbase.orders.models import Order

# Conflicts listed by id in the undo report; the count says how many there were in all.
LISTED_CONFLICTS = 100


def undo_customers(job: ImportJob) -> dict[str, Any]:
    created_ids = [
        cid
        for ranges in job.batches.values_list("created_ranges", flat=True)
        for cid in sqlbulk.expand(ranges)
    ]
    # A customer the import created and a later batch of the same file filled in has the
    # version of that change, not 1.
    versions: dict[int, int] = {}
    for object_id, version_after in ImportChange.objects.filter(job=job).values_list(
        "object_id", "version_after"
    ):
        versions[object_id] = max(version_after, versions.get(object_id, 0))
    removed, kept_created = remove_created_customers(created_ids, versions)
    restored, kept_updated = restore_updated_customers(job)
    conflicts = kept_created + kept_updated
    return {
        "removed": removed,
        "restored": restored,
        "conflicts": len(conflicts),
        "conflict_list": conflicts[:LISTED_CONFLICTS],
    }


def remove_created_customers(
    ids: list[int], versions: dict[int, int] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Delete customers an import created, unless someone edited them or they have orders."""
    versions = versions or {}
    removed = 0
    kept: list[dict[str, Any]] = []
    for chunk in sqlbulk.chunks(ids):
        candidates = Customer.objects.filter(id__in=chunk).annotate(
            has_orders=Exists(Order.objects.filter(customer_id=OuterRef("pk")))
        )
        deletable = []
        for cid, version, has_orders, name in candidates.values_list(
            "id", "version", "has_orders", "search_name"
        ):
            if version != versions.get(cid, 1):
                kept.append({"id": cid, "name": name, "reason": _("edited after the import")})
            elif has_orders:
                kept.append({"id": cid, "name": name, "reason": _("has orders since the import")})
            else:
                deletable.append(cid)
        if deletable:
            removed += len(deletable)
            Customer.objects.filter(id__in=deletable).delete()
    return removed, kept


def _restore_value(name: str, value: Any) -> Any:
    if value is not None and name == "birthday":
        return dt.date.fromisoformat(value)
    return value


def restore_updated_customers(job: ImportJob) -> tuple[int, list[dict[str, Any]]]:
    """Put back the values a customer import overwrote, where nobody changed them since.

    A customer changed by several batches of one file has one change record per batch;
    the earliest record holds the values from before the import, and the latest version
    must still be the customer's current one.
    """
    by_customer: dict[int, list[ImportChange]] = {}
    for change in ImportChange.objects.filter(job=job).order_by("id").iterator(chunk_size=2000):
        by_customer.setdefault(change.object_id, []).append(change)
    restored = 0
    kept: list[dict[str, Any]] = []
    now = timezone.now()
    for chunk in sqlbulk.chunks(sorted(by_customer)):
        customers = {c.pk: c for c in Customer.objects.filter(id__in=chunk)}
        for cid in chunk:
            customer = customers.get(cid)
            changes = by_customer[cid]
            if customer is None:
                continue  # deleted since (or created by this import and removed above)
            if customer.version != changes[-1].version_after:
                kept.append(
                    {
                        "id": cid,
                        "name": customer.search_name,
                        "reason": _("edited after the import"),
                    }
                )
                continue
            _restore(customer, changes, now)
            restored += 1
    return restored, kept


def _restore(customer: Customer, changes: list[ImportChange], now: dt.datetime) -> None:
    first = changes[0].before
    values: dict[str, Any] = {}
    for change in reversed(changes):
        values.update(
            {name: _restore_value(name, v) for name, v in change.before["fields"].items()}
        )
    for name in ("primary_phone", "primary_email", "city", "search_name"):
        values[name] = first[name]
    if values.get("birthday"):
        birthday = values["birthday"]
        values["birth_month"], values["birth_day"] = birthday.month, birthday.day
    # Without a date, the month and day are those recorded (a birthday without a year).
    if values.get("vip", False) is None:
        values["vip"] = False
    nullable = ("birthday", "birth_month", "birth_day", "external_id")
    for name, value in list(values.items()):
        if value is None and name not in nullable:
            values[name] = ""
    phones = [p for change in changes for p in change.before["phones"]]
    emails = [e for change in changes for e in change.before["emails"]]
    tags = [t for change in changes for t in change.before["tags"]]
    CustomerPhone.objects.filter(customer_id=customer.pk, number__in=phones).delete()
    CustomerEmail.objects.filter(customer_id=customer.pk, address__in=emails).delete()
    if tags:
        Customer.tags.through.objects.filter(customer_id=customer.pk, tag__name__in=tags).delete()
    for change in changes:
        if change.before["address"]:
            postal_code, region, city, line = change.before["address"]
            Address.objects.filter(
                customer_id=customer.pk,
                postal_code=postal_code,
                region=region,
                city=city,
                line=line,
            ).delete()
    consents: dict[str, str | None] = {}
    for change in reversed(changes):
        consents.update(change.before["consents"])
    for channel, state in consents.items():
        if state is None:
            Consent.objects.filter(customer_id=customer.pk, channel=channel).delete()
        else:
            Consent.objects.filter(customer_id=customer.pk, channel=channel).update(
                state=state, changed_at=now
            )
    Customer.objects.filter(id=customer.pk, version=customer.version).update(
        **values, version=customer.version + 1, updated_at=now
    )
