"""Test data made through the real services, so tests see what users would see."""

from __future__ import annotations

import itertools
from typing import Any

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.customers.models import Customer
from clientbase.customers.services import (
    AddressInput,
    CustomerInput,
    EmailInput,
    PhoneInput,
    customer_create,
)

PASSWORD = "correct-horse-battery-9"
_seq = itertools.count(1)


def make_user(*, role: str = Role.OPERATOR, username: str | None = None, **extra: Any) -> User:
    username = username or f"user{next(_seq)}"
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


def make_customer(
    *,
    actor: User | None = None,
    phones: list[str] | None = None,
    emails: list[str] | None = None,
    city: str | None = None,
    tags: list[str] | None = None,
    confirm_duplicate: bool = False,
    **fields: Any,
) -> Customer:
    n = next(_seq)
    fields.setdefault("last_name", f"Петров{n}")
    fields.setdefault("first_name", "Иван")
    data = CustomerInput(
        fields=fields,
        phones=[PhoneInput(p) for p in (phones if phones is not None else [f"+7916{n:07d}"])],
        emails=[EmailInput(e) for e in (emails or [])],
        addresses=[AddressInput(city=city, line="ул. Ленина, 1")] if city else None,
        tags=tags,
    )
    return customer_create(actor=actor, data=data, confirm_duplicate=confirm_duplicate)
