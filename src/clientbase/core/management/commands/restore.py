"""`clientbase restore PATH [--yes]`: replace the base with a backup, after a safety backup."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.core.backup import BackupError, backup_restore
from clientbase.core.management.commands._output import human_size


class Command(BaseCommand):
    help = _(
        "Restore the base from a backup made by `clientbase backup`. The current base is "
        "backed up first. Stop the app (or expect it to see the restored data at once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help=_("backup file"))
        parser.add_argument(
            "--yes", action="store_true", help=_("do not ask for confirmation (scripts)")
        )
        parser.add_argument("--database", default="default", help=_("database alias"))

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(_("Backup file %(path)s does not exist.") % {"path": path})
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError(
                    _(
                        "Restoring replaces all current data. "
                        "Add --yes to confirm without a terminal."
                    )
                )
            answer = input(
                _("Replace ALL current data with %(path)s? Type 'yes' to continue: ")
                % {"path": path}
            )
            if answer.strip().lower() != "yes":
                raise CommandError(_("Restore cancelled; nothing was changed."))
        try:
            result = backup_restore(path=path, using=options["database"])
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        if result.safety_backup is not None:
            self.stdout.write(
                _("Safety backup of the previous base: %(path)s (%(size)s)")
                % {
                    "path": result.safety_backup.path,
                    "size": human_size(result.safety_backup.size),
                }
            )
        self.stdout.write(
            self.style.SUCCESS(
                _("Restored from %(path)s (%(size)s) in %(seconds).1f s.")
                % {
                    "path": result.path,
                    "size": human_size(result.path.stat().st_size),
                    "seconds": result.seconds,
                }
            )
        )
