"""`clientbase apitoken create|list|revoke`: API tokens for machines, from the console."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.accounts.models import ApiToken
from clientbase.accounts.permissions import Scope
from clientbase.accounts.services import apitoken_create, apitoken_revoke


class Command(BaseCommand):
    help = _(
        "Create, list and revoke API tokens. A new token is printed once; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help=_("create a token and print it once"))
        create.add_argument("--name", required=True, help=_("who uses the token"))
        create.add_argument(
            "--scopes",
            required=True,
            help=_("comma-separated scopes: %(scopes)s")
            % {"scopes": ", ".join(s.value for s in Scope)},
        )
        actions.add_parser("list", help=_("list tokens (never their keys)"))
        revoke = actions.add_parser("revoke", help=_("revoke a token by its id"))
        revoke.add_argument("token_id", type=int, metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options["name"], options["scopes"])
        elif action == "list":
            self._list()
        else:
            self._revoke(options["token_id"])

    def _create(self, name: str, scopes: str) -> None:
        try:
            token, key = apitoken_create(actor=None, name=name, scopes=scopes.split(","))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _("API token %(id)d “%(name)s” created with scopes %(scopes)s.")
                % {"id": token.pk, "name": token.name, "scopes": ",".join(token.scopes)}
            )
        )
        self.stdout.write(key)
        self.stdout.write(_("Keep this token safe: it is shown only now."))

    def _list(self) -> None:
        tokens = ApiToken.objects.order_by("id")
        if not tokens:
            self.stdout.write(_("No API tokens."))
            return
        for token in tokens:
            state = (
                _("revoked %(when)s") % {"when": f"{token.revoked_at:%Y-%m-%d %H:%M}"}
                if token.revoked_at
                else _("active")
            )
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "—"
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.name}\t{','.join(token.scopes)}\t"
                + _("last used %(when)s") % {"when": used}
                + f"\t{state}"
            )

    def _revoke(self, token_id: int) -> None:
        try:
            token = apitoken_revoke(actor=None, token_id=token_id)
        except ApiToken.DoesNotExist as exc:
            raise CommandError(_("No API token with id %(id)d.") % {"id": token_id}) from exc
        self.stdout.write(
            _("API token %(id)d “%(name)s” revoked.") % {"id": token.pk, "name": token.name}
        )
