"""400, 403, 404 and 500 pages: the app's layout, Russian text, a way back; a 403 logs one
line; under /api/ the API's error shape instead."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.test import Client, RequestFactory
from django.utils import translation
from django.views.defaults import server_error

from clientbase.api_urls import bad_request
from tests import factories


def client_as(role: str, language: str = "ru") -> Client:
    client = Client()
    client.force_login(factories.make_user(role=role))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.mark.django_db
def test_403_page_has_the_layout_russian_text_and_a_way_back():
    response = client_as("operator").get("/analytics/rfm/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<title>Нет доступа · clientbase</title>" in body
    assert "Ваша роль не даёт доступа к этой странице или действию." in body
    assert '<a class="btn btn-primary" href="/">На главную</a>' in body
    assert 'class="navbar navbar-expand-lg' in body  # the menu of the logged-in user
    assert "clientbase/favicon.svg" in body


@pytest.mark.django_db
def test_403_writes_one_log_line_without_a_traceback(caplog):
    # Through the logging config's filter, as in production (caplog's handler sits on the root).
    caplog.set_level(logging.WARNING, logger="django.request")
    client_as("operator").get("/analytics/rfm/")
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == ["Forbidden (Permission denied): /analytics/rfm/"]
    assert records[0].exc_info is None and "Traceback" not in caplog.text


@pytest.mark.django_db
def test_403_under_the_api_keeps_the_json_error_shape():
    response = Client().get("/api/v1/customers/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ru", "en"])
def test_404_page(language):
    response = client_as("operator", language).get("/customers/999999/")
    assert response.status_code == 404
    body = response.content.decode()
    if language == "ru":
        assert '<h1 class="h3">Страница не найдена</h1>' in body
        assert '<a class="btn btn-primary" href="/">На главную</a>' in body
    else:
        assert '<h1 class="h3">Page not found</h1>' in body
        assert '<a class="btn btn-primary" href="/">To the start page</a>' in body


@pytest.mark.django_db
def test_404_for_anonymous_visitors_has_no_menu():
    response = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Страница не найдена" in body and "navbar-expand-lg" not in body


def test_500_renders_without_database_request_or_context():
    # No `db` fixture: pytest-django refuses any query, so this proves none is made.
    request = RequestFactory().get("/customers/")
    with translation.override("ru"):
        response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert '<h1 class="h3">Что-то пошло не так</h1>' in body
    assert "ошибка записана в журнал" in body
    assert '<a class="btn btn-primary" href="/">На главную</a>' in body


@pytest.mark.django_db
def test_an_unhandled_error_shows_the_500_page(settings):
    settings.ROOT_URLCONF = "tests.core.failing_urls"
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="ru")
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Что-то пошло не так" in response.content.decode()


@pytest.mark.django_db
def test_favicon_is_linked_and_served():
    body = Client().get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/clientbase/favicon.svg' in body
    response = Client().get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg ")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/customers/", "/api/v1/orders/", "/api/no-such/"])
def test_a_host_not_allowed_gets_the_api_error_shape_under_the_api(path):
    """DisallowedHost is raised in a middleware, before any API view can answer."""
    response = Client(HTTP_ACCEPT_LANGUAGE="ru").get(path, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "bad_request", "message": "Некорректный запрос.", "details": None}
    }


def test_a_body_too_large_before_an_api_view_is_a_413_as_in_the_view():
    request = RequestFactory().post("/api/v1/customers/", {})
    with translation.override("ru"):
        response = bad_request(request, RequestDataTooBig("too big"))
    assert response.status_code == 413
    assert json.loads(response.content) == {
        "error": {
            "code": "request_too_large",
            "message": "Тело запроса слишком большое.",
            "details": {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        }
    }


@pytest.mark.django_db
def test_400_page_for_a_host_not_allowed_has_the_layout_and_russian_text():
    response = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/customers/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert '<html lang="ru">' in body
    assert "<title>Некорректный запрос · clientbase</title>" in body
    assert '<h1 class="h3">Некорректный запрос</h1>' in body
    assert "Сервер не смог принять этот запрос" in body
    assert '<a class="btn btn-primary" href="/">На главную</a>' in body
    assert "clientbase/favicon.svg" in body
    # The request stopped before the session was read: nobody is known, so no menu.
    assert "navbar-expand-lg" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ru", "en"])
def test_400_page_for_a_form_with_too_many_fields_keeps_the_menu(language):
    from clientbase.customers.models import Customer

    client = client_as("manager", language)
    fields = {f"field{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = client.post("/customers/new/", fields)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'class="navbar navbar-expand-lg' in body  # the menu of the logged-in user
    if language == "ru":
        assert '<h1 class="h3">Некорректный запрос</h1>' in body
    else:
        assert '<h1 class="h3">Bad request</h1>' in body
        assert "The server could not accept this request" in body
    assert Customer.objects.count() == 0
