"""Staff users with a role, and failed log-ins for throttling."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from clientbase.accounts.choices import Role
from clientbase.accounts.permissions import Perm, user_has


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.OPERATOR)

    class Meta:
        verbose_name = _("staff user")
        verbose_name_plural = _("staff users")
        ordering = ["username"]

    def can(self, perm: Perm | str) -> bool:
        return user_has(self, perm)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class LoginFailure(models.Model):
    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("failed log-in")
        verbose_name_plural = _("failed log-ins")

    def __str__(self) -> str:
        return f"{self.username} {self.at:%Y-%m-%d %H:%M}"


class ApiToken(models.Model):
    """A machine's key to the API. Only a hash is stored; the key is shown once at creation."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiRateWindow(models.Model):
    """The current rate-limit window of one API client, counted by one atomic UPSERT.

    A table of its own rather than Django's cache: the database cache's incr() is a read
    then a write, so concurrent requests lost counts (119 of 200 passed a limit of 60).
    """

    client = models.CharField(max_length=100, unique=True)
    # Seconds since the epoch: compared inside the UPSERT the same way on SQLite and PostgreSQL.
    window_ends = models.FloatField(db_index=True)
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("API rate-limit window")
        verbose_name_plural = _("API rate-limit windows")

    def __str__(self) -> str:
        return f"{self.client} {self.hits}"


class LoginAddress(models.Model):
    """An address a staff user has logged in from: there, a lock-out of others spares them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    ip = models.GenericIPAddressField()
    last_login_at = models.DateTimeField()

    class Meta:
        verbose_name = _("log-in address")
        verbose_name_plural = _("log-in addresses")
        constraints = [
            models.UniqueConstraint(fields=["user", "ip"], name="login_address_user_ip_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.ip}"
