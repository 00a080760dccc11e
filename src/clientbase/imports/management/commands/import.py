"""`clientbase import customers|orders PATH ...`, `clientbase import undo|resume JOB_ID`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from clientbase.core.errors import DomainError
from clientbase.core.formatting import format_number
from clientbase.imports.choices import ImportMode, MatchKey
from clientbase.imports.models import ImportJob
from clientbase.imports.services import (
    import_file,
    import_job_execute,
    import_job_undo,
    mapping_from_file,
)

# The counts of the text summary, grouped as the reader's language writes numbers.
_COUNTS = ("rows", "created", "updated", "unchanged", "rejected", "warned")


def job_summary(job: ImportJob) -> dict[str, Any]:
    """The one JSON object the command prints: what was read, how it was mapped, what happened."""
    report = job.preview if job.status == "previewed" else job.report
    error_file = report.get("error_file") if job.status == "previewed" else job.error_file
    return {
        "job": job.pk,
        "kind": job.kind,
        "status": job.status,
        "dry_run": job.status == "previewed",
        "file": job.original_name,
        "format": job.file_format,
        "encoding": job.encoding,
        "delimiter": job.delimiter,
        "sheet": job.sheet,
        "system": job.preview.get("system"),
        "mapping": {
            job.headers[int(i)]: key
            for i, key in sorted(job.mapping.items(), key=lambda kv: int(kv[0]))
        },
        "mode": job.mode,
        "match_by": job.match_by,
        "rows": report.get("rows", 0),
        "created": report.get("created", 0),
        "updated": report.get("updated", 0),
        "unchanged": report.get("unchanged", 0),
        "rejected": report.get("rejected", 0),
        # Imported all the same, with a value left out or kept apart from a shared contact.
        "warned": report.get("warned", 0),
        "conflicts": report.get("conflicts", 0),
        "error_file": str(Path(settings.DATA_DIR) / error_file) if error_file else None,
        "backup": job.backup_path or None,
    }


class Command(BaseCommand):
    help = _("Import customer or order files; undo or resume an import (docs/import-export.md).")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for kind in ("customers", "orders"):
            sub = actions.add_parser(kind, help=_("import a CSV, XLSX, XLS or ODS file"))
            sub.add_argument("path", type=Path, metavar="PATH")
            sub.add_argument("--mapping", type=Path, metavar="FILE", help=_("a JSON mapping file"))
            sub.add_argument("--mode", choices=ImportMode.values, default=None)
            sub.add_argument(
                "--match-by",
                default=None,
                metavar="KEYS",
                help=_("match keys in priority order, e.g. external_id,email,phone"),
            )
            sub.add_argument("--sheet", default=None, help=_("the sheet of a spreadsheet"))
            sub.add_argument("--dry-run", action="store_true", help=_("check, write nothing"))
            sub.add_argument("--json", action="store_true", help=_("print a JSON object"))
        for action, text in (
            ("undo", _("undo a finished import")),
            ("resume", _("resume an import that was interrupted")),
        ):
            sub = actions.add_parser(action, help=text)
            sub.add_argument("job_id", type=int, metavar="JOB_ID")
            sub.add_argument("--json", action="store_true", help=_("print a JSON object"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "undo":
                job = import_job_undo(actor=None, job_id=options["job_id"])
                self._print_undo(job, as_json=options["json"])
                return
            if options["action"] == "resume":
                job = import_job_execute(options["job_id"], force=True)
            else:
                job = self._import(options)
        except ImportJob.DoesNotExist:
            self._fail("no_such_job", _("There is no import with this number."), options["json"])
        except DomainError as exc:
            self._fail(exc.code, exc.message, options["json"])
        summary = job_summary(job)
        if job.status == "failed":
            self._fail("import_failed", job.failure, options["json"])
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        self.stdout.write(
            _(
                "Import #%(job)s (%(status)s): %(rows)s rows, %(created)s new, %(updated)s "
                "updated, %(unchanged)s unchanged, %(rejected)s rejected, %(warned)s with "
                "warnings."
            )
            % {
                **{name: format_number(summary[name]) for name in _COUNTS},
                "job": job.pk,
                "status": job.get_status_display().lower(),
            }
        )
        if summary["error_file"]:
            self.stdout.write(
                _("Rejected rows and rows with warnings: %(path)s")
                % {"path": summary["error_file"]}
            )

    def _import(self, options: dict[str, Any]) -> ImportJob:
        path: Path = options["path"]
        if not path.is_file():
            raise DomainError(_("File %(path)s does not exist.") % {"path": path}, code="no_file")
        mapping = mapping_from_file(options["mapping"]) if options["mapping"] else None
        match_by = None
        if options["match_by"]:
            match_by = [k.strip() for k in options["match_by"].split(",") if k.strip()]
            if any(k not in MatchKey.values for k in match_by):
                raise DomainError(
                    _("--match-by takes external_id, email and phone."), code="invalid_match_by"
                )
        return import_file(
            actor=None,
            kind=options["action"],
            path=path,
            mapping=mapping,
            mode=options["mode"],
            match_by=match_by,
            sheet=options["sheet"],
            dry_run=options["dry_run"],
        )

    def _print_undo(self, job: ImportJob, *, as_json: bool) -> None:
        report = job.undo_report
        if as_json:
            self.stdout.write(
                json.dumps({"job": job.pk, "status": job.status, **report}, ensure_ascii=False)
            )
            return
        self.stdout.write(
            _(
                "Import #%(job)s undone: %(removed)s removed, %(restored)s restored, "
                "%(conflicts)s kept because they changed since."
            )
            % {
                "job": job.pk,
                **{
                    name: format_number(report.get(name, 0))
                    for name in ("removed", "restored", "conflicts")
                },
            }
        )
        for item in report.get("conflict_list", []):
            self.stdout.write(f"  #{item['id']}: {item['reason']}")

    def _fail(self, code: str, message: str, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"error": code, "message": message}, ensure_ascii=False))
        self.stderr.write(_("Error: %(message)s") % {"message": message})
        sys.exit(1)
