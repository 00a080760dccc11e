"""`clientbase export customers|orders [--filter …] [--format csv|xlsx] [--columns …] -o PATH`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.core.formatting import format_number
from clientbase.exports import columns as catalogue
from clientbase.exports import selectors, services
from clientbase.exports.choices import ExportFormat, ExportKind
from clientbase.exports.columns import ExportError
from clientbase.segments.language import SegmentQueryError, canonical


class Command(BaseCommand):
    help = _(
        "Export customers or orders to CSV or XLSX (columns and filters: docs/import-export.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ExportKind.values, help=_("customers or orders"))
        parser.add_argument(
            "--filter",
            default="",
            metavar="QUERY",
            help=_(
                "customers: a segment query (docs/segments.md); orders: the order list's "
                "filters q=…,status=…,from=YYYY-MM-DD,to=YYYY-MM-DD,customer=ID,manager=NAME"
            ),
        )
        parser.add_argument(
            "--format",
            choices=ExportFormat.values,
            help=_("csv or xlsx (default: from the file's extension, else csv)"),
        )
        parser.add_argument(
            "--columns",
            default="",
            metavar="A,B,C",
            help=_("column keys, comma-separated (default: the default columns)"),
        )
        parser.add_argument(
            "--codes",
            action="store_true",
            help=_(
                "choices and yes/no as stored codes (person, cod, yes), the same in every "
                "language, instead of words in LANGUAGE_CODE"
            ),
        )
        parser.add_argument(
            "-o", "--output", required=True, metavar="PATH", help=_("the file to write")
        )

    def _bad_filter(self, text: str, message: str, position: int | None = None) -> None:
        # Exit code 2, as for any usage error (like `clientbase segment count`).
        self.stderr.write(_("Error: %(message)s") % {"message": message})
        if position is not None:
            self.stderr.write("  " + text)
            self.stderr.write("  " + " " * position + "^")
        sys.exit(2)

    def handle(self, *args: Any, **options: Any) -> None:
        kind: str = options["kind"]
        text: str = options["filter"].strip()
        path = Path(options["output"])
        file_format = options["format"] or (
            ExportFormat.XLSX if path.suffix.lower() == ".xlsx" else ExportFormat.CSV
        )
        try:
            columns = catalogue.resolve_columns(
                kind, options["columns"].split(","), codes=options["codes"]
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc

        filters: dict[str, Any] = {}
        if kind == ExportKind.CUSTOMERS and text:
            try:
                filters = {"query": canonical(text)}
            except SegmentQueryError as exc:
                self._bad_filter(text, exc.message, exc.position)
        elif text:
            try:
                filters = selectors.parse_order_filter(text)
            except selectors.OrderFilterError as exc:
                self._bad_filter(text, exc.message)
        request = selectors.ExportRequest(kind=kind, filters=filters)
        if not path.parent.is_dir():
            raise CommandError(_("No such directory: %(dir)s") % {"dir": path.parent})
        try:
            rows = services.export_write(
                request=request, columns=columns, file_format=file_format, target=path
            )
        except selectors.ExportFilterError as exc:
            # Refused before a line is written: no file, no audit row.
            self._bad_filter(text, exc.message)
        services.export_audit(
            actor=None,
            request=request,
            file_format=file_format,
            columns=columns,
            rows=rows,
            via="cli",
            codes=options["codes"],
        )
        self.stdout.write(
            _("%(rows)s rows written to %(path)s")
            % {"rows": format_number(rows), "path": str(path)}
        )
