"""`clientbase stats rebuild [--batch-size N]`: recompute customer statistics from the orders."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.core.formatting import format_number
from clientbase.orders.services import customer_stats_rebuild


class Command(BaseCommand):
    help = _("Customer statistics (orders, revenue, refusals) kept from the orders.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rebuild = actions.add_parser(
            "rebuild",
            help=_("recompute every customer's statistics and fix the rows that drifted"),
        )
        rebuild.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help=_("customers per transaction (default 5000)"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError(_("The batch size must be at least 1."))
        result = customer_stats_rebuild(batch_size=options["batch_size"])
        self.stdout.write(
            _(
                "Customers checked: %(checked)s, statistics rows fixed: %(fixed)s, "
                "customers with bought categories fixed: %(categories)s."
            )
            % {
                "checked": format_number(result.checked),
                "fixed": format_number(result.fixed),
                "categories": format_number(result.categories_fixed),
            }
        )
