"""`clientbase createadmin`: the first administrator, with a generated password printed once."""

from __future__ import annotations

import os
import secrets
import string
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core import audit
from clientbase.core.choices import AuditAction

# No look-alike characters (0/O, 1/l/I): the password is read off a terminal and typed.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
PASSWORD_ENV = "CLIENTBASE_ADMIN_PASSWORD"  # noqa: S105  (a variable name, not a secret)


def generate_password(length: int = 16) -> str:
    """Random password with at least one lower-case letter, upper-case letter and digit."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


class Command(BaseCommand):
    help = _(
        "Create an administrator (role admin). Without --password a strong random password is "
        "generated and printed once; it is stored only as a hash and never logged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help=_("user name (default: admin)"))
        parser.add_argument(
            "--password",
            help=_(
                "password to set instead of a generated one (also read from the "
                "CLIENTBASE_ADMIN_PASSWORD environment variable, which other users cannot see "
                "in the process list)"
            ),
        )
        parser.add_argument("--email", default="", help=_("e-mail of the administrator"))
        parser.add_argument(
            "--if-none",
            action="store_true",
            help=_("do nothing if an active administrator already exists (for `make run`)"),
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help=_("address of the app, for the log-in instructions"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        if not username:
            raise CommandError(_("The user name cannot be empty."))
        if options["if_none"]:
            existing = (
                User.objects.filter(role=Role.ADMIN, is_active=True)
                .order_by("id")
                .values_list("username", flat=True)
                .first()
            )
            if existing is not None:
                self.stdout.write(
                    _("An administrator already exists (%(username)s); nothing to do.")
                    % {"username": existing}
                )
                return
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(
                _("A staff user named %(username)s already exists; choose another --username.")
                % {"username": username}
            )
        given = options["password"] or os.environ.get(PASSWORD_ENV, "")
        password = given or generate_password()
        user = User(username=username, email=options["email"], role=Role.ADMIN)
        if given:
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        user.set_password(password)
        with transaction.atomic():
            user.save()
            audit.record(
                action=AuditAction.CREATE,
                obj=user,
                changes={
                    "username": [None, user.username],
                    "role": [None, user.role],
                    "password": [audit.REDACTED, audit.REDACTED],
                },
                extra={"via": "createadmin"},
            )
        login_url = options["url"].rstrip("/") + reverse("accounts:login")
        self.stdout.write(self.style.SUCCESS(_("Administrator created.")))
        self.stdout.write(_("  Log in at: %(url)s") % {"url": login_url})
        self.stdout.write(_("  Username:  %(username)s") % {"username": user.username})
        if given:
            self.stdout.write(_("  Password:  the one you gave"))
        else:
            self.stdout.write(_("  Password:  %(password)s") % {"password": password})
            self.stdout.write(
                _("Keep this password safe: it is shown only now. Change it after log-in.")
            )
