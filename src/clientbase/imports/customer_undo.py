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
    removed, kept_created = remove_created_customers(created_ids)
    restored, kept_updated = restore_updated_customers(job)
    conflicts = kept_created + kept_updated
    return {
        "removed": removed,
        "restored": restored,
        "conflicts": len(conflicts),
        "conflict_list": conflicts[:LISTED_CONFLICTS],
    }


def remove_created_customers(ids: list[int]) -> tuple[int, list[dict[str, Any]]]:
    """Delete customers an import created, unless someone edited them or they have orders."""
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
            if version != 1:
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
    """Put back the values a customer import overwrote, where nobody changed them since."""
    restored = 0
    kept: list[dict[str, Any]] = []
    now = timezone.now()
    changes = ImportChange.objects.filter(job=job).order_by("id")
    for change in changes.iterator(chunk_size=2000):
        before = change.before
        customer = Customer.objects.filter(id=change.object_id).first()
        if customer is None:
            continue  # deleted since: nothing to restore
        if customer.version != change.version_after:
            kept.append(
                {
                    "id": customer.pk,
                    "name": customer.search_name,
                    "reason": _("edited after the import"),
                }
            )
            continue
        values: dict[str, Any] = {
            name: _restore_value(name, value) for name, value in before["fields"].items()
        }
        for name in ("primary_phone", "primary_email", "city", "search_name"):
            values[name] = before[name]
        if "birthday" in values:
            birthday = values["birthday"]
            values["birth_month"] = birthday.month if birthday else None
            values["birth_day"] = birthday.day if birthday else None
        for name in ("vip",):
            if name in values and values[name] is None:
                values[name] = False
        for name, value in list(values.items()):
            if value is None and name not in (
                "birthday",
                "birth_month",
                "birth_day",
                "external_id",
            ):
                values[name] = ""
        CustomerPhone.objects.filter(customer_id=customer.pk, number__in=before["phones"]).delete()
        CustomerEmail.objects.filter(customer_id=customer.pk, address__in=before["emails"]).delete()
        if before["tags"]:
            Customer.tags.through.objects.filter(
                customer_id=customer.pk, tag__name__in=before["tags"]
            ).delete()
        if before["address"]:
            postal_code, region, city, line = before["address"]
            Address.objects.filter(
                customer_id=customer.pk,
                postal_code=postal_code,
                region=region,
                city=city,
                line=line,
            ).delete()
        for channel, state in before["consents"].items():
            if state is None:
                Consent.objects.filter(customer_id=customer.pk, channel=channel).delete()
            else:
                Consent.objects.filter(customer_id=customer.pk, channel=channel).update(
                    state=state, changed_at=now
                )
        Customer.objects.filter(id=customer.pk, version=change.version_after).update(
            **values, version=change.version_after + 1, updated_at=now
        )
        restored += 1
    return restored, kept
