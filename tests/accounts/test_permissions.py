"""The permission matrix, and its enforcement on every URL for every role."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.template import TemplateDoesNotExist
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, include, path
from django.urls.resolvers import RoutePattern

from clientbase.accounts.choices import Role
from clientbase.accounts.models import ApiToken, User
from clientbase.accounts.permissions import (
    API,
    LOGIN,
    PUBLIC,
    ROLE_PERMISSIONS,
    Perm,
    declared_permission,
    role_has,
    user_has,
)
from clientbase.accounts.services import apitoken_create
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent, WebhookSubscription
from clientbase.customers.choices import CustomFieldType
from clientbase.customers.models import (
    Customer,
    CustomerPhone,
    CustomFieldDefinition,
    Tag,
    TimelineEvent,
)
from clientbase.customers.services import customer_snapshot
from clientbase.exports.models import ExportJob
from clientbase.imports.models import ImportJob
from clientbase.orders.models import ManagerCapacity, Order
from clientbase.orders.services import OrderInput, order_upsert
from clientbase.segments.models import Segment
from tests import factories

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- the matrix itself

# The documented matrix (accounts/permissions.py, docs/permissions.md), restated here so
# that changing a role's rights is a deliberate act that touches this test too.
EXPECTED_MATRIX = {
    Role.ADMIN: set(Perm),
    Role.MANAGER: {
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
    },
    Role.OPERATOR: {Perm.CUSTOMER_VIEW, Perm.CUSTOMER_ADD, Perm.CUSTOMER_CHANGE},
    Role.MARKETER: {
        Perm.CUSTOMER_VIEW,
        Perm.CUSTOMER_BULK,
        Perm.TAG_MANAGE,
        Perm.ANALYTICS_VIEW,
        Perm.SEGMENT_MANAGE,
    },
    Role.ANALYST: {Perm.CUSTOMER_VIEW, Perm.ANALYTICS_VIEW, Perm.SEGMENT_MANAGE},
}


def test_matrix_is_exactly_the_documented_one():
    assert set(ROLE_PERMISSIONS) == set(Role.values)
    assert {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()} == EXPECTED_MATRIX


@pytest.mark.parametrize(
    "perm",
    [
        Perm.AUDIT_VIEW,
        Perm.STAFF_MANAGE,
        Perm.CUSTOM_FIELD_MANAGE,
        Perm.CUSTOMER_DELETE,
        Perm.ANALYTICS_MANAGE,
    ],
)
def test_only_admin_has(perm):
    assert [role for role in Role.values if role_has(role, perm)] == [Role.ADMIN]


def test_operator_cannot_export_or_read_documents():
    assert not role_has(Role.OPERATOR, Perm.CUSTOMER_EXPORT)
    assert not role_has(Role.OPERATOR, Perm.CUSTOMER_DOCUMENT)
    assert [r for r in Role.values if role_has(r, Perm.CUSTOMER_EXPORT)] == ["admin", "manager"]
    assert [r for r in Role.values if role_has(r, Perm.CUSTOMER_DOCUMENT)] == ["admin", "manager"]


def test_every_role_may_view_customers_and_only_analyst_cannot_touch_customers():
    assert all(role_has(role, Perm.CUSTOMER_VIEW) for role in Role.values)
    customer_writes = {p for p in Perm if p.value.startswith(("customer.", "tag."))} - {
        Perm.CUSTOMER_VIEW
    }
    read_only = [r for r in Role.values if not ROLE_PERMISSIONS[r] & customer_writes]
    assert read_only == [Role.ANALYST]


def test_unknown_role_and_unknown_permission():
    assert not role_has("superuser", Perm.CUSTOMER_VIEW)
    with pytest.raises(ValueError):
        role_has(Role.ADMIN, "customer.everything")


@pytest.mark.django_db
def test_user_has_needs_an_active_authenticated_user(admin_user):
    assert user_has(admin_user, Perm.STAFF_MANAGE)
    assert admin_user.can(Perm.STAFF_MANAGE)
    assert not user_has(None, Perm.CUSTOMER_VIEW)
    assert not user_has(AnonymousUser(), Perm.CUSTOMER_VIEW)
    admin_user.is_active = False
    assert not user_has(admin_user, Perm.CUSTOMER_VIEW)


def test_docs_list_every_permission():
    docs = REPO / "docs" / "permissions.md"
    if not docs.exists():
        pytest.skip("docs/permissions.md is not written yet")
    text = docs.read_text(encoding="utf-8")
    missing = [perm.value for perm in Perm if perm.value not in text]
    assert not missing, f"docs/permissions.md does not mention {missing}"
    missing_roles = [role for role in Role.values if role not in text.lower()]
    assert not missing_roles, f"docs/permissions.md does not mention roles {missing_roles}"


# ---------------------------------------------------------------- every URL


@dataclass(frozen=True)
class Route:
    route: str  # "customers/<int:pk>/edit/"
    name: str  # "customers:edit"
    callback: Any
    converters: dict[str, str]  # kwarg -> converter name ("int", "str", ...)

    def __str__(self) -> str:
        return "/" + self.route


def _converter_name(converter: Any) -> str:
    return type(converter).__name__.removesuffix("Converter").lower()


def walk(patterns: list, prefix: str = "", namespace: str = "", converters=None) -> list[Route]:
    converters = dict(converters or {})
    routes: list[Route] = []
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            raise AssertionError(
                f"/{prefix}{entry.pattern}: a regex URL; teach this test how to fill it"
            )
        found = {k: _converter_name(c) for k, c in entry.pattern.converters.items()}
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = ":".join(p for p in (namespace, entry.namespace) if p)
            routes += walk(entry.url_patterns, route, ns, {**converters, **found})
        elif isinstance(entry, URLPattern):
            name = ":".join(p for p in (namespace, entry.name or "") if p)
            routes.append(Route(route, name, entry.callback, {**converters, **found}))
    return routes


ROUTES = walk(get_resolver().url_patterns)

# <int:pk> (and <int:id>) mean the object named by the path segment just before them.
PK_OBJECT_BY_SEGMENT = {
    "customers": "customer",
    "tags": "tag",
    "fields": "custom_field",
    "staff": "user",
    "webhooks": "webhook",
    "api-tokens": "api_token",
    "orders": "order",
    "segments": "segment",
    "exports": "export_job",
}
# Other keyword arguments, by name. A new name must be added here, or the suite fails.
KWARG_VALUES = {
    "customer_id": ("object", "customer"),
    "tag_id": ("object", "tag"),
    "user_id": ("object", "user"),
    "field_id": ("object", "custom_field"),
    "job_id": ("object", "import_job"),
    # The old /imports/exports/<path:rest> addresses, redirected to /exports/<rest>.
    "rest": ("value", "customers/"),
    "key": ("value", "shoe_size"),
    "slug": ("value", "shoe_size"),
    "number": ("value", "W-1"),  # the order number of the world's order
}


def concrete_path(route: Route, objects: dict[str, Any]) -> str:
    def fill(match: re.Match) -> str:
        converter, name = match.group(1) or "str", match.group(2)
        if name in ("pk", "id"):
            segment = route.route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            if segment not in PK_OBJECT_BY_SEGMENT:
                raise AssertionError(
                    f"{route}: which object is <{name}> after '{segment}/'? "
                    "Add the segment to PK_OBJECT_BY_SEGMENT."
                )
            value = objects[PK_OBJECT_BY_SEGMENT[segment]].pk
        elif name in KWARG_VALUES:
            kind, what = KWARG_VALUES[name]
            value = objects[what].pk if kind == "object" else what
        else:
            raise AssertionError(f"{route}: unknown URL argument <{name}>; add it to KWARG_VALUES")
        if converter == "int" and not isinstance(value, int):
            raise AssertionError(f"{route}: <int:{name}> filled with {value!r}")
        return str(value)

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route.route)


def test_the_walk_finds_the_known_urls():
    found = {r.name for r in ROUTES}
    for name in ("healthz", "accounts:login", "accounts:logout", "accounts:staff_edit", "home"):
        assert name in found
    assert len(ROUTES) >= 8


def test_every_view_declares_a_permission():
    undeclared = [str(r) for r in ROUTES if declared_permission(r.callback) is None]
    assert not undeclared, f"views without a declared permission: {undeclared}"


def test_every_declared_permission_is_known():
    known = {PUBLIC, LOGIN, API, *Perm}
    unknown = {
        str(r): declared_permission(r.callback)
        for r in ROUTES
        if declared_permission(r.callback) not in known
    }
    assert not unknown


def test_public_views_are_only_the_expected_ones():
    public = sorted(r.name for r in ROUTES if declared_permission(r.callback) == PUBLIC)
    assert public == [
        "accounts:login",
        "accounts:logout",
        "api:schema",
        "favicon",
        "healthz",
        "set_language",
    ]


def test_every_url_argument_can_be_filled():
    named = {what for kind, what in KWARG_VALUES.values() if kind == "object"}
    objects = {k: type("Obj", (), {"pk": 1})() for k in {*PK_OBJECT_BY_SEGMENT.values(), *named}}
    for route in ROUTES:
        concrete_path(route, objects)


@pytest.fixture
def world(users_by_role):
    """One of every object a URL can name, and a logged-in client per role."""
    admin = users_by_role[Role.ADMIN]
    customer = factories.make_customer(
        actor=admin,
        last_name="Целевой",
        phones=["+79990001111"],
        tags=["Старый"],
        document_type="passport_ru",
        document_number="4510 123456",
    )
    objects = {
        "customer": customer,
        "tag": Tag.objects.get(name="Старый"),
        "custom_field": CustomFieldDefinition.objects.create(
            key="shoe_size", label="Размер", field_type=CustomFieldType.NUMBER
        ),
        "user": factories.make_user(role=Role.ANALYST, username="target"),
        "webhook": WebhookSubscription.objects.create(
            url="https://shop.example/hook", events=["customer.created"], secret="whsec_x"
        ),
        "api_token": apitoken_create(actor=admin, name="Shop", scopes=["orders:write"])[0],
        "order": order_upsert(actor=admin, data=OrderInput(external_id="W-1"), customer=customer)[
            0
        ],
        "segment": Segment.objects.create(name="Москва", query='city = "Москва"'),
        # The manager's own job: its pages are for its creator and administrators only.
        "export_job": ExportJob.objects.create(
            kind="customers", file_format="csv", created_by=users_by_role[Role.MANAGER]
        ),
        # A finished import with no file behind it: its pages render, its undo is refused
        # for roles without import.run before anything is read.
        "import_job": ImportJob.objects.create(
            kind="customers",
            status="done",
            original_name="clients.csv",
            file_path="imports/none/source-clients.csv",
            headers=["ФИО", "Телефон"],
            mapping={"0": "full_name", "1": "phone"},
            created_by=users_by_role[Role.MANAGER],
        ),
    }
    clients = {}
    for role, user in users_by_role.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return {"objects": objects, "clients": clients, "users": users_by_role}


def database_state(world) -> dict:
    """Everything a refused request could have touched."""
    customer_id = world["objects"]["customer"].pk
    customer = Customer.objects.get(pk=customer_id)
    return {
        "customers": list(Customer.objects.values_list("pk", "version", "status", "last_name")),
        "card": customer_snapshot(customer),
        "phones": list(CustomerPhone.objects.values_list("pk", "number")),
        "tags": list(Tag.objects.values_list("pk", "name", "color")),
        "fields": list(CustomFieldDefinition.objects.values()),
        "users": list(
            User.objects.values_list("pk", "username", "role", "is_active", "password").order_by(
                "pk"
            )
        ),
        "timeline": TimelineEvent.objects.count(),
        "webhooks": list(WebhookSubscription.objects.values()),
        "api_tokens": list(ApiToken.objects.values_list("pk", "name", "revoked_at")),
        "orders": list(Order.objects.values_list("pk", "status", "manager_id", "total")),
        "imports": list(ImportJob.objects.values_list("pk", "status", "mapping", "undone_at")),
        "capacities": list(ManagerCapacity.objects.values()),
        "changes": AuditEvent.objects.exclude(
            action__in=[AuditAction.VIEW, AuditAction.SEARCH, AuditAction.EXPORT]
        ).count(),
    }


# Form data that would change something in any view, if a view ever let it through.
HOSTILE_POST = {
    "last_name": "Взломщик",
    "first_name": "Х",
    "name": "Взлом",
    "color": "danger",
    "reason": "fraud",
    "comment": "x",
    "version": "1",
    "expected_version": "1",
    "action": "tag",
    "tag": "Взлом",
    "tags": "Взлом",
    "op": "add",
    "username": "intruder",
    "password": "correct-horse-battery-9",
    "role": "admin",
    "is_active": "on",
    "key": "intrusion",
    "label": "Взлом",
    "field_type": "text",
    "confirm": "1",
    "status": "cancelled",
    "capacity": "0",
}

ALLOWED_STATUSES = {200, 204, 302, 405}


def _get(client: Client, path: str, pending: list[str], label: str) -> HttpResponse | None:
    try:
        return client.get(path)
    except TemplateDoesNotExist as exc:
        # The permission check already let the request through; the page is still being built.
        pending.append(f"{label} GET {path}: template {exc} missing")
        return None


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_get_for_anonymous_and_every_role(route, world):
    required = declared_permission(route.callback)
    assert required is not None, f"{route} declares no permission"
    url = concrete_path(route, world["objects"])
    problems: list[str] = []
    pending: list[str] = []
    if required == API:
        # API views read only tokens: without one, anonymous and staff sessions alike get 401.
        for who, client in [("anonymous", Client()), *world["clients"].items()]:
            status = client.get(url).status_code
            if status != 401:
                problems.append(f"{who} GET {url}: {status}, not 401 without a token")
        assert not problems, "\n".join(problems)
        return

    response = _get(Client(), url, pending, "anonymous")
    if response is not None:
        if required == PUBLIC:
            if response.status_code == 403 or "/accounts/login/?next=" in response.get(
                "Location", ""
            ):
                problems.append(f"anonymous GET {url}: {response.status_code} on a public view")
        elif not (
            response.status_code == 302
            and response["Location"].startswith("/accounts/login/?next=")
        ):
            problems.append(f"anonymous GET {url}: {response.status_code}, not a log-in redirect")

    for role, client in world["clients"].items():
        allowed = required in (PUBLIC, LOGIN) or role_has(role, required)
        response = _get(client, url, pending, role)
        if response is None:
            if not allowed:
                problems.append(f"{role} GET {url}: reached the view without {required}")
            continue
        if allowed and response.status_code not in ALLOWED_STATUSES:
            problems.append(f"{role} GET {url}: {response.status_code}, has {required}")
        if not allowed and response.status_code != 403:
            problems.append(f"{role} GET {url}: {response.status_code}, lacks {required}")

    assert not problems, "\n".join(problems)
    if pending:
        warnings.warn("\n".join(pending), stacklevel=1)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_post_without_the_permission_is_refused_and_changes_nothing(route, world):
    required = declared_permission(route.callback)
    url = concrete_path(route, world["objects"])
    ids = {
        "ids": [world["objects"]["customer"].pk],
        "customer_ids": [world["objects"]["customer"].pk],
    }
    data = {**HOSTILE_POST, **ids, "manager": world["users"][Role.MANAGER].pk}
    before = database_state(world)

    if required == API:
        for who, client in [("anonymous", Client()), *world["clients"].items()]:
            response = client.post(url, data)
            assert response.status_code == 401, f"{who} POST {url}: {response.status_code}"
            assert database_state(world) == before, f"{who} POST {url} changed data"
        return

    if required not in (PUBLIC, LOGIN):
        response = Client().post(url, data)
        assert response.status_code == 302, f"anonymous POST {url}"
        assert response["Location"].startswith("/accounts/login/?next=")
        assert database_state(world) == before, f"anonymous POST {url} changed data"

    refused_roles = [
        r for r in Role.values if required not in (PUBLIC, LOGIN) and not role_has(r, required)
    ]
    for role in refused_roles:
        response = world["clients"][role].post(url, data)
        assert response.status_code == 403, f"{role} POST {url}: {response.status_code}"
        assert database_state(world) == before, f"{role} POST {url} changed data"


# ---------------------------------------------------------------- deny by default


def _undeclared_view(request):
    return HttpResponse("open")


# Beside the app's own URLs: the 403 page's menu links to them.
urlpatterns = [path("undeclared/", _undeclared_view), path("", include("clientbase.urls"))]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_view_without_a_declaration_is_closed_to_everyone(admin_user):
    assert Client().get("/undeclared/").status_code == 403
    admin = Client()
    admin.force_login(admin_user)
    assert admin.get("/undeclared/").status_code == 403
    assert admin.post("/undeclared/").status_code == 403


@pytest.mark.django_db
def test_inactive_user_is_sent_to_log_in(make_user, client_for):
    user = make_user(role=Role.ADMIN, username="sleeper")
    client = client_for(user)
    user.is_active = False
    user.save()
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
