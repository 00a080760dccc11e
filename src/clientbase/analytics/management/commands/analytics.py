"""`clientbase analytics refresh [--as-of DATE] [--json]`: recompute every customer's scores."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.selectors import model_fit_reason
from clientbase.analytics.services import analytics_refresh
from clientbase.core.formatting import format_number


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(_("Not a date (YYYY-MM-DD): %(text)s") % {"text": text}) from exc


class Command(BaseCommand):
    help = _("Customer analytics: RFM, churn and value models, importance.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        refresh = actions.add_parser(
            "refresh", help=_("recompute every customer's scores as of a date (default today)")
        )
        refresh.add_argument("--as-of", metavar="YYYY-MM-DD", help=_("the date to score as of"))
        refresh.add_argument("--json", action="store_true", help=_("print one JSON object"))

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = _date(options["as_of"]) if options.get("as_of") else None
        result = analytics_refresh(as_of=as_of)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
            return
        self.stdout.write(
            _("%(n)s customers scored as of %(date)s in %(seconds)s s.")
            % {
                "n": format_number(result.customers),
                "date": result.as_of.isoformat(),
                "seconds": format_number(result.seconds, 2),
            }
        )
        labels = dict(RfmSegment.choices)
        for code, size in result.rfm_sizes.items():
            self.stdout.write(f"  {labels.get(code, code)}: {format_number(size)}")
        for name, params in result.models.items():
            if "error" in params:
                self.stdout.write(
                    _("  %(model)s: not fitted (%(error)s)")
                    % {"model": name, "error": model_fit_reason(params)}
                )
            else:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items() if k != "time_unit")
                self.stdout.write(f"  {name}: {shown}")
