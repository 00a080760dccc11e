"""The permission matrix: what each role may do. docs/permissions.md documents it."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from clientbase.accounts.choices import Role


class Perm(StrEnum):
    CUSTOMER_VIEW = "customer.view"
    CUSTOMER_ADD = "customer.add"
    CUSTOMER_CHANGE = "customer.change"
    CUSTOMER_DELETE = "customer.delete"
    CUSTOMER_STOPLIST = "customer.stoplist"
    CUSTOMER_BULK = "customer.bulk"
    CUSTOMER_DOCUMENT = "customer.document"  # read identity document numbers in clear
    CUSTOMER_EXPORT = "customer.export"
    TAG_MANAGE = "tag.manage"
    CUSTOM_FIELD_MANAGE = "customfield.manage"
    AUDIT_VIEW = "audit.view"
    STAFF_MANAGE = "staff.manage"
    ANALYTICS_VIEW = "analytics.view"  # dashboard, RFM grid, model figures
    ANALYTICS_MANAGE = "analytics.manage"  # scoring settings, refresh on demand
    SEGMENT_MANAGE = "segment.manage"  # save, change, freeze and delete segments
    IMPORT_RUN = "import.run"  # import customer and order files, undo imports


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.MANAGER: frozenset(
        {
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_ADD,
            Perm.CUSTOMER_CHANGE,
            Perm.CUSTOMER_STOPLIST,
            Perm.CUSTOMER_BULK,
            Perm.CUSTOMER_DOCUMENT,
            Perm.CUSTOMER_EXPORT,
            Perm.IMPORT_RUN,
            Perm.TAG_MANAGE,
            Perm.ANALYTICS_VIEW,
            Perm.SEGMENT_MANAGE,
        }
    ),
    Role.OPERATOR: frozenset({Perm.CUSTOMER_VIEW, Perm.CUSTOMER_ADD, Perm.CUSTOMER_CHANGE}),
    Role.MARKETER: frozenset(
        {
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_BULK,
            Perm.TAG_MANAGE,
            Perm.ANALYTICS_VIEW,
            Perm.SEGMENT_MANAGE,
        }
    ),
    Role.ANALYST: frozenset({Perm.CUSTOMER_VIEW, Perm.ANALYTICS_VIEW, Perm.SEGMENT_MANAGE}),
}


def role_has(role: str, perm: Perm | str) -> bool:
    return Perm(perm) in ROLE_PERMISSIONS.get(role, frozenset())


def user_has(user: Any, perm: Perm | str) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return role_has(user.role, perm)


def owner_or_admin(user: Any, owner_id: int | None) -> bool:
    """A job holding personal data (an import, an export) is for the one who ran it and
    administrators only: the permission to run jobs is not a right to read everyone's."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return owner_id == user.pk or user.role == Role.ADMIN


# Every view declares what it needs; the middleware refuses views that declare nothing.
PUBLIC = "public"  # anyone, logged in or not
LOGIN = "login"  # any active staff user
API = "api"  # REST API: a token's scopes decide, checked by accounts.api.permissions.HasScope


class Scope(StrEnum):
    """What an API token may do; ALL grants everything."""

    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    CUSTOMERS_LOOKUP = "customers:lookup"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    EXPORT = "export"
    ALL = "all"


def scopes_allow(granted: list[str] | tuple[str, ...], needed: Scope | str) -> bool:
    return Scope.ALL in granted or str(needed) in granted


ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def requires(permission: Perm | str) -> Callable[[ViewT], ViewT]:
    """Declare what a function view needs: a Perm, LOGIN or PUBLIC."""

    def decorate(view: ViewT) -> ViewT:
        view.required_permission = permission  # type: ignore[attr-defined]
        return view

    return decorate


def declared_permission(view: Any) -> str | None:
    value = getattr(view, "required_permission", None)
    if value is None:
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        value = getattr(view_class, "required_permission", None)
    return None if value is None else str(value)
