"""Backups of the whole base: SQLite online backup API, pg_dump/pg_restore on PostgreSQL."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.core.errors import DomainError

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
SQLITE_SUFFIX = ".sqlite3"
PG_SUFFIX = ".dump"
# Pages copied per step of the SQLite online backup: small steps let the app keep writing
# between them instead of waiting for one long copy.
_SQLITE_PAGES_PER_STEP = 4096


class BackupError(DomainError):
    code = "backup_error"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    vendor: str
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    vendor: str
    safety_backup: BackupResult | None
    seconds: float


def _vendor(using: str) -> str:
    vendor = connections[using].vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(
            _("Backups support SQLite and PostgreSQL, not %(vendor)s.") % {"vendor": vendor}
        )
    return vendor


def default_backup_path(vendor: str, *, directory: Path | None = None) -> Path:
    """CLIENTBASE_DATA_DIR/backups/clientbase-YYYYmmdd-HHMMSS.<ext>, never an existing file."""
    directory = Path(directory or settings.BACKUP_DIR)
    suffix = SQLITE_SUFFIX if vendor == "sqlite" else PG_SUFFIX
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    path = directory / f"clientbase-{stamp}{suffix}"
    counter = 1
    # A safety backup and a manual one may fall in the same second.
    while path.exists():
        counter += 1
        path = directory / f"clientbase-{stamp}-{counter}{suffix}"
    return path


def backup_create(*, path: Path | str | None = None, using: str = "default") -> BackupResult:
    """Write a consistent copy of the base while the app keeps running; verify it."""
    vendor = _vendor(using)
    target = Path(path) if path else default_backup_path(vendor)
    if target.is_dir():
        target = default_backup_path(vendor, directory=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if vendor == "sqlite":
        _sqlite_backup(_sqlite_path(using), target)
    else:
        _pg_dump(connections[using].settings_dict, target)
    result = BackupResult(
        path=target,
        size=target.stat().st_size,
        vendor=vendor,
        seconds=time.monotonic() - started,
    )
    logger.info("backup written: %s (%d bytes)", target, result.size)
    return result


def backup_restore(
    *, path: Path | str, using: str = "default", safety_backup: bool = True
) -> RestoreResult:
    """Replace the current base with a backup, after taking a safety backup of it."""
    source = Path(path)
    if not source.is_file():
        raise BackupError(_("Backup file %(path)s does not exist.") % {"path": source})
    vendor = _vendor(using)
    kind = detect_format(source)
    if kind != vendor:
        raise BackupError(
            _("%(path)s is not a %(vendor)s backup of clientbase.")
            % {"path": source, "vendor": "SQLite" if vendor == "sqlite" else "PostgreSQL"}
        )
    if vendor == "sqlite":
        # Refuse a damaged file before anything of the current base is touched.
        _sqlite_verify(source, require_schema=True)
    started = time.monotonic()
    safety = backup_create(using=using) if safety_backup else None
    # Our own open connection would hold locks the restore needs; Django reconnects later.
    connections[using].close()
    if vendor == "sqlite":
        _sqlite_restore(source, _sqlite_path(using))
    else:
        _pg_restore(connections[using].settings_dict, source)
    logger.info("backup restored from %s", source)
    return RestoreResult(
        path=source, vendor=vendor, safety_backup=safety, seconds=time.monotonic() - started
    )


def backups_prune(*, keep: int, directory: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups written by clientbase in the directory."""
    directory = Path(directory or settings.BACKUP_DIR)
    if keep < 1 or not directory.is_dir():
        return []
    found = [
        p
        for p in directory.glob("clientbase-*")
        if p.is_file() and p.suffix in (SQLITE_SUFFIX, PG_SUFFIX)
    ]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = found[keep:]
    for old in removed:
        old.unlink()
    return removed


def detect_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    return "unknown"


# ---------------------------------------------------------------- SQLite


def _sqlite_path(using: str) -> Path:
    name = str(connections[using].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError(_("An in-memory SQLite base cannot be backed up."))
    return Path(name)


def _sqlite_backup(database: Path, target: Path) -> None:
    if not database.exists():
        raise BackupError(_("Database file %(path)s does not exist.") % {"path": database})
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=_SQLITE_PAGES_PER_STEP)
            # The copy is one self-contained file: no -wal or -shm beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()
    try:
        _sqlite_verify(partial, require_schema=False)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def _sqlite_verify(path: Path, *, require_schema: bool) -> None:
    """PRAGMA integrity_check must answer 'ok'; a restore source must hold a Django base."""
    try:
        check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = check.execute("PRAGMA integrity_check").fetchall()
            has_schema = check.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='django_migrations'"
            ).fetchone()
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            _("%(path)s is not a readable SQLite database: %(error)s")
            % {"path": path, "error": exc}
        ) from exc
    if rows != [("ok",)]:
        raise BackupError(
            _("Integrity check of %(path)s failed: %(problems)s")
            % {"path": path, "problems": "; ".join(str(r[0]) for r in rows[:5])}
        )
    if require_schema and not has_schema:
        raise BackupError(_("%(path)s does not hold a clientbase database.") % {"path": path})


def _sqlite_restore(source_path: Path, database: Path) -> None:
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        # The backup API writes through SQLite's own locking: app processes that still have
        # the base open see either the old or the restored content, never a torn file.
        target = sqlite3.connect(database, timeout=60)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
            rows = target.execute("PRAGMA quick_check").fetchall()
        finally:
            target.close()
    finally:
        source.close()
    if rows != [("ok",)]:
        raise BackupError(_("The restored base failed its integrity check."))


# ---------------------------------------------------------------- PostgreSQL


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            _(
                "%(tool)s is not installed. Install the PostgreSQL client tools of the "
                "server's version (Debian: apt-get install postgresql-client)."
            )
            % {"tool": name}
        )
    return found


def _pg_args_env(db: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore; the password goes through the environment."""
    args = ["--dbname", str(db["NAME"])]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return args, env


def _run_pg(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(  # noqa: S603  (fixed tool, arguments from settings)
        command, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise BackupError(
            _("%(tool)s failed: %(error)s")
            % {
                "tool": Path(command[0]).name,
                "error": completed.stderr.strip()[-2000:] or completed.returncode,
            }
        )


def _pg_dump(db: dict[str, Any], target: Path) -> None:
    tool = _pg_tool("pg_dump")
    args, env = _pg_args_env(db)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _run_pg([tool, "--format=custom", "--no-owner", "--file", str(partial), *args], env)
        # pg_restore --list reads the whole table of contents: a cheap check that it is whole.
        _run_pg([_pg_tool("pg_restore"), "--list", str(partial)], env)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def _pg_restore(db: dict[str, Any], source: Path) -> None:
    tool = _pg_tool("pg_restore")
    args, env = _pg_args_env(db)
    # One transaction: a failed restore leaves the current base as it was.
    _run_pg(
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(source),
        ],
        env,
    )
