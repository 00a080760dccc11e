"""`clientbase segment count "QUERY" [--json]`: how many customers a segment query matches."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from clientbase.segments.language import SegmentQueryError, canonical
from clientbase.segments.selectors import segment_count


class Command(BaseCommand):
    help = _("Count the customers a segment query matches (docs/segments.md).")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        count = actions.add_parser("count", help=_("print the number of matching customers"))
        count.add_argument("query", metavar="QUERY", help=_("a query in the segment language"))
        count.add_argument("--json", action="store_true", help=_("print a JSON object"))

    def handle(self, *args: Any, **options: Any) -> None:
        query = options["query"]
        try:
            text = canonical(query)
            number = segment_count(query)
        except SegmentQueryError as exc:
            # Exit code 2, as for any usage error, with the text and a caret under the position.
            self.stderr.write(_("Error: %(message)s") % {"message": exc.message})
            self.stderr.write("  " + query)
            self.stderr.write("  " + " " * exc.position + "^")
            sys.exit(2)
        if options["json"]:
            self.stdout.write(json.dumps({"count": number, "query": text}, ensure_ascii=False))
        else:
            self.stdout.write(str(number))
