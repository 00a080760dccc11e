"""Shared fixtures: staff users of every role, customers made through the services."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from tests import factories


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    return factories.make_user


@pytest.fixture
def admin_user(db: Any) -> User:
    return factories.make_user(role=Role.ADMIN, username="admin")


@pytest.fixture
def manager_user(db: Any) -> User:
    return factories.make_user(role=Role.MANAGER, username="manager")


@pytest.fixture
def operator_user(db: Any) -> User:
    return factories.make_user(role=Role.OPERATOR, username="operator")


@pytest.fixture
def users_by_role(db: Any) -> dict[str, User]:
    return {role: factories.make_user(role=role, username=f"user_{role}") for role in Role.values}


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """A test client logged in as the given user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def make_customer(db: Any) -> Callable[..., Any]:
    return factories.make_customer


@pytest.fixture
def audit_purged_after(transactional_db):
    """Empties the append-only audit table before the transactional test's flush.

    SQLite's flush is a DELETE, which the append-only trigger refuses; PostgreSQL's flush is
    a TRUNCATE, which row triggers do not see. The trigger is lifted only for this cleanup.
    """
    yield
    if connection.vendor != "sqlite":
        return
    append_only = importlib.import_module("clientbase.core.migrations.0002_audit_append_only")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER core_auditevent_no_delete")
        cursor.execute("DELETE FROM core_auditevent")
        cursor.execute(append_only.SQLITE_UP[1])
