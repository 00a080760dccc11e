"""Log-in, throttling, sessions, log-out and password change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from clientbase.accounts.choices import Role
from clientbase.accounts.models import LoginAddress, LoginFailure, User
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"


def log_in(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def audit_actions() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "object_repr"))


def form_error_codes(response) -> list[str]:
    return [e.code for e in response.context["form"].non_field_errors().as_data()]


def test_login_page_is_served_to_anonymous(client):
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_right_password_logs_in_and_is_audited(client, operator_user):
    response = log_in(client, "operator", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/customers/"
    assert logged_in_user_id(client) == str(operator_user.pk)
    [row] = AuditEvent.objects.all()
    assert (row.action, row.actor_id, row.object_id) == (
        AuditAction.LOGIN,
        operator_user.pk,
        str(operator_user.pk),
    )


def test_next_parameter_is_followed_after_login(client, operator_user):
    response = client.post(
        f"{LOGIN_URL}?next=/customers/new/", {"username": "operator", "password": PASSWORD}
    )
    assert response["Location"] == "/customers/new/"


def test_wrong_password_is_refused_and_audited(client, operator_user):
    response = log_in(client, "operator", "wrong-password-1", REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 200
    assert form_error_codes(response) == ["invalid_login"]
    assert logged_in_user_id(client) is None
    assert audit_actions() == [(AuditAction.LOGIN_FAILED, "operator")]
    assert list(LoginFailure.objects.values_list("username", "ip")) == [("operator", "10.0.0.9")]


def test_unknown_user_is_refused_like_a_wrong_password(client):
    response = log_in(client, "nobody", PASSWORD)
    assert form_error_codes(response) == ["invalid_login"]
    assert audit_actions() == [(AuditAction.LOGIN_FAILED, "nobody")]


def test_inactive_user_cannot_log_in(client, make_user):
    make_user(role=Role.ADMIN, username="retired", is_active=False)
    response = log_in(client, "retired", PASSWORD)
    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert audit_actions() == [(AuditAction.LOGIN_FAILED, "retired")]


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_SECONDS=600)
def test_after_the_failure_limit_even_the_right_password_is_refused(client, operator_user):
    for _ in range(3):
        assert form_error_codes(log_in(client, "operator", "wrong-password-1")) == ["invalid_login"]

    response = log_in(client, "OPERATOR", PASSWORD)  # the count ignores case

    assert response.status_code == 200
    assert form_error_codes(response) == ["locked"]
    message = response.context["form"].non_field_errors()[0]
    assert "10" in message  # minutes to wait
    assert logged_in_user_id(client) is None
    assert [a for a, _ in audit_actions()] == [AuditAction.LOGIN_FAILED] * 4
    # Another user is not locked by these failures.
    User.objects.create_user(username="other", password=PASSWORD)
    assert log_in(Client(), "other", PASSWORD).status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_SECONDS=600)
def test_once_the_window_passes_login_works_and_clears_the_failures(client, operator_user):
    for _ in range(3):
        log_in(client, "operator", "wrong-password-1")
    assert form_error_codes(log_in(client, "operator", PASSWORD)) == ["locked"]

    LoginFailure.objects.update(at=timezone.now() - dt.timedelta(seconds=601))

    response = log_in(client, "operator", PASSWORD)
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(operator_user.pk)
    assert LoginFailure.objects.filter(username="operator").count() == 0


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_failures_below_the_limit_are_cleared_by_a_successful_login(client, operator_user):
    log_in(client, "operator", "wrong-password-1")
    log_in(client, "operator", "wrong-password-1")
    assert log_in(client, "operator", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    log_in(client, "operator", "wrong-password-1")
    log_in(client, "operator", "wrong-password-1")
    # Two fresh failures, not four: the limit of three is not reached.
    assert log_in(client, "operator", PASSWORD).status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=100, LOGIN_FAILURE_IP_LIMIT=3)
def test_many_failures_from_one_address_lock_that_address(client, operator_user):
    for name in ("a", "b", "c"):
        log_in(client, name, "wrong-password-1", REMOTE_ADDR="10.9.9.9")
    response = log_in(client, "operator", PASSWORD, REMOTE_ADDR="10.9.9.9")
    assert form_error_codes(response) == ["locked"]
    assert log_in(Client(), "operator", PASSWORD, REMOTE_ADDR="10.9.9.10").status_code == 302


# ---------------------------------------------------------------- sessions


def test_session_settings():
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_session_cookie_ends_with_the_browser(client, operator_user):
    response = log_in(client, "operator", PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == ""
    assert cookie["max-age"] == ""
    assert cookie["httponly"] is True


def test_every_request_renews_the_idle_timeout(client, operator_user):
    log_in(client, "operator", PASSWORD)
    session = Session.objects.get(session_key=client.session.session_key)
    Session.objects.filter(pk=session.pk).update(
        expire_date=timezone.now() + dt.timedelta(minutes=5)
    )

    assert client.get("/customers/").status_code == 200

    renewed = Session.objects.get(pk=session.pk).expire_date
    expected = timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((renewed - expected).total_seconds()) < 60


def test_an_idle_session_expires(client, operator_user):
    log_in(client, "operator", PASSWORD)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/customers/"


def test_anonymous_customer_list_redirects_to_login(client):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/customers/"


def test_logged_in_user_opening_login_is_sent_on(client_for, operator_user):
    response = client_for(operator_user).get(LOGIN_URL)
    assert response.status_code == 302
    assert response["Location"] == "/customers/"


# ---------------------------------------------------------------- log-out


def test_logout_is_post_only_and_audited(client, operator_user):
    log_in(client, "operator", PASSWORD)

    assert client.get("/accounts/logout/").status_code == 405
    assert logged_in_user_id(client) == str(operator_user.pk)

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert logged_in_user_id(client) is None
    assert client.get("/customers/").status_code == 302
    assert [a for a, _ in audit_actions()] == [AuditAction.LOGIN, AuditAction.LOGOUT]
    assert AuditEvent.objects.get(action=AuditAction.LOGOUT).actor_id == operator_user.pk


def test_anonymous_logout_writes_nothing(client):
    assert client.post("/accounts/logout/").status_code == 302
    assert AuditEvent.objects.count() == 0


# ---------------------------------------------------------------- password change


NEW_PASSWORD = "Lantern-Orbit-4471"


def test_password_change_needs_the_old_password(client, operator_user):
    log_in(client, "operator", PASSWORD)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": "not-my-password",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    operator_user.refresh_from_db()
    assert operator_user.check_password(PASSWORD)


def test_password_change_refuses_a_weak_password(client, operator_user):
    log_in(client, "operator", PASSWORD)
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "12345", "new_password2": "12345"},
    )
    assert response.status_code == 200
    assert "new_password2" in response.context["form"].errors
    operator_user.refresh_from_db()
    assert operator_user.check_password(PASSWORD)


def test_password_change_works_and_keeps_the_session(client, operator_user):
    log_in(client, "operator", PASSWORD)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/done/"
    assert client.get("/accounts/password/done/").status_code == 200
    assert client.get("/customers/").status_code == 200

    operator_user.refresh_from_db()
    assert operator_user.check_password(NEW_PASSWORD)
    assert log_in(Client(), "operator", PASSWORD).status_code == 200
    assert log_in(Client(), "operator", NEW_PASSWORD).status_code == 302


def test_password_change_needs_a_login(client):
    response = client.get("/accounts/password/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/password/"


# ---------------------------------------------------------------- lock-out policy

OFFICE = "10.0.0.1"
ATTACKER = "10.6.6.6"


def known_at(user: User, address: str) -> None:
    """The user has logged in from this address before (as in the office every day)."""
    client = Client(REMOTE_ADDR=address)
    assert log_in(client, user.username, PASSWORD, REMOTE_ADDR=address).status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_wrong_passwords_from_one_address_lock_the_account_there_only(admin_user):
    """An attacker guessing the administrator's password locks himself out, not the admin."""
    known_at(admin_user, OFFICE)
    for _ in range(3):
        log_in(Client(), "admin", "wrong-password-1", REMOTE_ADDR=ATTACKER)
    assert form_error_codes(log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=ATTACKER)) == ["locked"]
    assert log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=OFFICE).status_code == 302
    # A new address of the admin's (at home) is not locked by the attacker's three either.
    assert log_in(Client(), "admin", PASSWORD, REMOTE_ADDR="10.0.0.99").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_ACCOUNT_LIMIT=4)
def test_guessing_from_many_addresses_locks_the_account_for_new_addresses_only(admin_user):
    known_at(admin_user, OFFICE)
    for n in range(4):
        log_in(Client(), "admin", "wrong-password-1", REMOTE_ADDR=f"10.6.6.{n}")
    response = log_in(Client(), "admin", PASSWORD, REMOTE_ADDR="10.6.6.200")
    assert form_error_codes(response) == ["locked"]
    assert logged_in_user_id(Client()) is None
    # The office, where the admin has logged in before, keeps working.
    assert log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=OFFICE).status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_IP_LIMIT=3)
def test_an_address_spraying_user_names_is_locked_except_for_its_known_staff(
    admin_user, operator_user
):
    """Thirty failures from the office address no longer lock every account there: staff who
    logged in from it before keep their small allowance; accounts new there are locked."""
    known_at(admin_user, OFFICE)
    for name in ("a", "b", "c"):
        log_in(Client(), name, "wrong-password-1", REMOTE_ADDR=OFFICE)
    assert form_error_codes(log_in(Client(), "operator", PASSWORD, REMOTE_ADDR=OFFICE)) == [
        "locked"
    ]
    assert log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=OFFICE).status_code == 302
    # The allowance is small: the per-account limit at that address still holds.
    for _ in range(3):
        log_in(Client(), "admin", "wrong-password-1", REMOTE_ADDR=OFFICE)
    assert form_error_codes(log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=OFFICE)) == ["locked"]


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_IP_LIMIT=3, LOGIN_KNOWN_ADDRESS_DAYS=90)
def test_an_address_is_known_for_a_limited_time(admin_user):
    known_at(admin_user, OFFICE)
    LoginAddress.objects.update(last_login_at=timezone.now() - dt.timedelta(days=91))
    for name in ("a", "b", "c"):
        log_in(Client(), name, "wrong-password-1", REMOTE_ADDR=OFFICE)
    assert form_error_codes(log_in(Client(), "admin", PASSWORD, REMOTE_ADDR=OFFICE)) == ["locked"]
