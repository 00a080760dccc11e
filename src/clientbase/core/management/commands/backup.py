"""`clientbase backup [-o PATH]`: a consistent copy of the base while the app keeps running."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from clientbase.core.backup import BackupError, backup_create
from clientbase.core.management.commands._output import human_size


class Command(BaseCommand):
    help = _(
        "Back up the base: SQLite through its online backup API, PostgreSQL with pg_dump -Fc. "
        "Default file: CLIENTBASE_DATA_DIR/backups/clientbase-YYYYmmdd-HHMMSS.*"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-o", "--output", metavar="PATH", help=_("file (or directory) to write the backup to")
        )
        parser.add_argument("--database", default="default", help=_("database alias"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_create(path=options["output"], using=options["database"])
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            _("Backup written: %(path)s (%(size)s, %(seconds).1f s), integrity checked.")
            % {"path": result.path, "size": human_size(result.size), "seconds": result.seconds}
        )
