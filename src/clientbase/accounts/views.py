"""Log-in, log-out, password change, staff management and API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts import services, throttling
from clientbase.accounts.forms import ApiTokenForm, StaffUserForm, ThrottledAuthenticationForm
from clientbase.accounts.models import ApiToken, User
from clientbase.accounts.permissions import LOGIN, PUBLIC, Perm, requires
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.middleware import client_ip


class LoginView(auth_views.LoginView):
    required_permission = PUBLIC
    template_name = "accounts/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        username = (form.data.get("username") or "")[:150]
        audit.record(
            action=AuditAction.LOGIN_FAILED,
            object_type="accounts.user",
            object_repr=username,
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    required_permission = PUBLIC


class PasswordChangeView(auth_views.PasswordChangeView):
    required_permission = LOGIN
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    required_permission = LOGIN
    template_name = "accounts/password_change_done.html"


@receiver(user_logged_in)
def _on_login(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    throttling.success_record(user=user, ip=client_ip(request))
    audit.record(action=AuditAction.LOGIN, actor=user, obj=user)


@receiver(user_logged_out)
def _on_logout(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit.record(action=AuditAction.LOGOUT, actor=user, obj=user)


_STAFF_FIELDS = ["username", "first_name", "last_name", "email", "role", "is_active"]


def _staff_snapshot(user: User) -> dict[str, Any]:
    return {f: getattr(user, f) for f in _STAFF_FIELDS}


@requires(Perm.STAFF_MANAGE)
def staff_list(request: HttpRequest) -> HttpResponse:
    users = list(User.objects.order_by("username"))
    locks = throttling.locked_out_users()
    for user in users:
        user.locked_until = locks.get(user.username.lower())  # type: ignore[attr-defined]
    return render(request, "accounts/staff_list.html", {"users": users})


@requires(Perm.STAFF_MANAGE)
@require_POST
def staff_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    services.staff_unlock(actor=request.user, user_id=user.pk)
    messages.success(request, _("%(username)s can log in again.") % {"username": user.username})
    return redirect("accounts:staff_list")


@requires(Perm.STAFF_MANAGE)
@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(User, pk=pk) if pk else None
    before = _staff_snapshot(instance) if instance else {}
    form = StaffUserForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        # Compare with `before`: is_valid() has already copied the posted role onto instance.
        if (
            instance is not None
            and instance.pk == request.user.pk
            and (not form.cleaned_data["is_active"] or form.cleaned_data["role"] != before["role"])
        ):
            form.add_error(None, _("You cannot change your own role or deactivate yourself."))
        else:
            user = form.save()
            changes = audit.diff(before, _staff_snapshot(user))
            if form.cleaned_data.get("password"):
                changes["password"] = [audit.REDACTED, audit.REDACTED]
                # A password the administrator sets is the way back in for a locked-out user.
                username = before.get("username", user.username)
                if username.lower() in throttling.locked_out_users():
                    changes["locked_out"] = [True, False]
                throttling.failures_clear(username=username)
            audit.record(
                action=AuditAction.UPDATE if instance else AuditAction.CREATE,
                actor=request.user,
                obj=user,
                changes=changes,
            )
            messages.success(request, _("Staff user saved."))
            return redirect("accounts:staff_list")
    return render(request, "accounts/staff_form.html", {"form": form, "object": instance})


@requires(Perm.STAFF_MANAGE)
@require_GET
def apitoken_list(request: HttpRequest) -> HttpResponse:
    tokens = ApiToken.objects.order_by("-created_at", "-id")
    return render(request, "accounts/apitoken_list.html", {"tokens": tokens})


@never_cache
@requires(Perm.STAFF_MANAGE)
@require_http_methods(["GET", "POST"])
def apitoken_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, key = services.apitoken_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # No redirect after this POST on purpose: the clear key exists only in this
            # response (never in the session or the database), and never_cache keeps it
            # out of caches.
            return render(request, "accounts/apitoken_created.html", {"token": token, "key": key})
    return render(request, "accounts/apitoken_form.html", {"form": form})


@requires(Perm.STAFF_MANAGE)
@require_POST
def apitoken_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    services.apitoken_revoke(actor=request.user, token_id=token.pk)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("settings:apitoken_list")
