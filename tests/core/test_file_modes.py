"""Files with personal data are the app's alone: created 0600 in directories 0700."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.core.clitools import clean_env, run_cli

pytestmark = pytest.mark.django_db


def _modes(root: Path) -> dict[str, str]:
    """Every file and directory under `root` (not `root` itself) with its permission bits."""
    return {
        str(path.relative_to(root)) + ("/" if path.is_dir() else ""): oct(
            stat.S_IMODE(path.stat().st_mode)
        )
        for path in sorted(root.rglob("*"))
    }


def test_database_uploads_error_files_and_backups_are_private(tmp_path: Path) -> None:
    """A fresh data directory filled by the real command: migrate, an import with a rejected
    row (its upload copy, error file and the backup taken before it), and a backup."""
    data = tmp_path / "data"
    env = clean_env(CLIENTBASE_DATA_DIR=str(data))
    source = tmp_path / "customers.csv"
    source.write_text(
        "Фамилия,Имя,Телефон,E-mail\nИванов,Иван,+79161234567,ivan@example.com\n,,,\n"
        ",,не телефон,не почта\n",
        encoding="utf-8",
    )
    for args in (
        ("migrate", "--no-input"),
        ("import", "customers", str(source)),
        ("backup",),
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr

    modes = _modes(data)
    assert oct(stat.S_IMODE(data.stat().st_mode)) == "0o700"
    assert {"clientbase.sqlite3", "backups/", "imports/", "secret_key", "field_key"} <= set(modes)
    assert any(name.endswith(".csv") and "error" in name for name in modes), modes
    assert len([n for n in modes if n.startswith("backups/") and not n.endswith("/")]) == 2
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o700" if name.endswith("/") else "0o600")
    }
    assert wrong == {}, modes
