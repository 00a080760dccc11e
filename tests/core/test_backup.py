"""Backup and restore of the whole base: SQLite online backup, pg_dump/pg_restore on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import translation

from clientbase.core.backup import (
    BackupError,
    backup_create,
    backup_restore,
    backups_prune,
    default_backup_path,
    detect_format,
)
from clientbase.customers.models import Customer
from tests.core.clitools import child_env, run_cli


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English; the suite's default language is Russian."""
    with translation.override("en"):
        yield


def _needs(vendor: str) -> None:
    if connection.vendor != vendor:
        pytest.skip(f"runs on {vendor}; this run uses {connection.vendor}")


@pytest.fixture
def backup_dir(settings: Any, tmp_path: Path) -> Path:
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


def _round_trip(make_customer: Any, tmp_path: Path, suffix: str) -> None:
    kept = make_customer(last_name="Сохранёнов")
    written = backup_create(path=tmp_path / f"base{suffix}")
    assert written.path == tmp_path / f"base{suffix}"
    assert written.size == written.path.stat().st_size > 0
    assert detect_format(written.path) == connection.vendor

    Customer.objects.filter(pk=kept.pk).update(last_name="Испорченов")
    make_customer(last_name="Лишний")
    restored = backup_restore(path=written.path)

    assert Customer.objects.get(pk=kept.pk).last_name == "Сохранёнов"
    assert not Customer.objects.filter(last_name="Лишний").exists()
    assert Customer.objects.count() == 1
    # The base as it was before the restore is kept, in case the wrong file was chosen.
    assert restored.safety_backup is not None
    assert restored.safety_backup.path.exists()
    assert restored.safety_backup.path.parent == tmp_path / "backups"


@pytest.mark.usefixtures("audit_purged_after", "backup_dir")
def test_sqlite_backup_change_restore_returns_the_data(make_customer: Any, tmp_path: Path) -> None:
    _needs("sqlite")
    _round_trip(make_customer, tmp_path, ".sqlite3")


@pytest.mark.postgres
@pytest.mark.usefixtures("audit_purged_after", "backup_dir")
def test_postgres_backup_change_restore_returns_the_data(
    make_customer: Any, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (CI does; see .ci/run)")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("needs PostgreSQL client tools pg_dump and pg_restore on PATH")
    _round_trip(make_customer, tmp_path, ".dump")


@pytest.mark.usefixtures("audit_purged_after")
def test_sqlite_backup_is_a_self_contained_verified_file(backup_dir: Path) -> None:
    _needs("sqlite")
    written = backup_create()

    assert written.path.parent == backup_dir
    assert written.path.name.startswith("clientbase-")
    assert written.path.suffix == ".sqlite3"
    assert not written.path.with_name(written.path.name + "-wal").exists()
    check = sqlite3.connect(written.path)
    try:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()


@pytest.mark.django_db
def test_default_backup_paths_never_overwrite(tmp_path: Path) -> None:
    first = default_backup_path("sqlite", directory=tmp_path)
    first.write_bytes(b"x")
    second = default_backup_path("sqlite", directory=tmp_path)

    assert first != second
    assert second.name.startswith(first.stem)
    assert default_backup_path("postgresql", directory=tmp_path).suffix == ".dump"


@pytest.mark.django_db
def test_restore_refuses_a_file_that_is_no_backup(tmp_path: Path, make_customer: Any) -> None:
    customer = make_customer()
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")

    with pytest.raises(BackupError, match="not a"):
        backup_restore(path=junk)
    with pytest.raises(BackupError, match="does not exist"):
        backup_restore(path=tmp_path / "missing.sqlite3")
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.django_db
def test_restore_refuses_a_sqlite_file_of_another_program(tmp_path: Path) -> None:
    _needs("sqlite")
    other = tmp_path / "other.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()

    with pytest.raises(BackupError, match="does not hold a clientbase database"):
        backup_restore(path=other)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    names = [f"clientbase-2026010{i}-000000.sqlite3" for i in range(1, 6)]
    for age, name in enumerate(reversed(names)):
        path = tmp_path / name
        path.write_bytes(b"x")
        stamp = 1_700_000_000 - age * 86400
        os.utime(path, (stamp, stamp))
    (tmp_path / "keep-me.txt").write_text("not a backup")

    removed = backups_prune(keep=2, directory=tmp_path)

    assert sorted(p.name for p in removed) == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [*names[3:], "keep-me.txt"]


@pytest.mark.usefixtures("audit_purged_after")
def test_cli_backup_then_restore_needs_yes_without_a_terminal(
    make_customer: Any, tmp_path: Path
) -> None:
    if connection.vendor == "postgresql" and not shutil.which("pg_dump"):
        pytest.skip("needs PostgreSQL client tools pg_dump and pg_restore on PATH")
    kept = make_customer(last_name="Консольный")
    target = tmp_path / ("cli.sqlite3" if connection.vendor == "sqlite" else "cli.dump")
    env = child_env(BACKUP_DIR=str(tmp_path / "safety"))

    written = run_cli("backup", "-o", str(target), env=env)
    assert written.returncode == 0, written.stderr
    assert str(target) in written.stdout
    assert "Backup written" in written.stdout

    Customer.objects.filter(pk=kept.pk).update(last_name="Другой")
    connection.close()
    refused = run_cli("restore", str(target), env=env)
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    assert Customer.objects.get(pk=kept.pk).last_name == "Другой"

    connection.close()
    restored = run_cli("restore", str(target), "--yes", env=env)
    assert restored.returncode == 0, restored.stderr
    assert "Safety backup" in restored.stdout
    assert "Restored from" in restored.stdout
    assert Customer.objects.get(pk=kept.pk).last_name == "Консольный"
    assert len(list((tmp_path / "safety").iterdir())) == 1
