"""`clientbase import`: the one JSON object, dry run, mapping file, undo, errors and exit codes."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from clientbase.customers.models import Customer
from clientbase.imports.models import ImportJob

pytestmark = pytest.mark.django_db

FILE = (
    "ФИО;Моб. телефон;Почта;Дата рождения\n"
    "Иванов Иван;8 (916) 123-45-67;Ivan@Mail.RU;24.08.1990\n"
    "Петрова Анна;+7 903 111-22-33;;01.03.1985\n"
    "Плохов Пётр;12345;;\n"
    ";12345;;\n"
)


@pytest.fixture(autouse=True)
def _no_backup(settings: Any) -> None:
    settings.IMPORT_BACKUP = False


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("import", *args, stdout=out)
    return json.loads(out.getvalue())


def test_dry_run_then_import_then_undo_as_json(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes(FILE.encode("cp1251"))
    preview = run("customers", str(path), "--dry-run", "--json")
    assert preview["dry_run"] is True and preview["status"] == "previewed"
    assert (preview["format"], preview["encoding"], preview["delimiter"]) == ("csv", "cp1251", ";")
    assert preview["mapping"] == {
        "ФИО": "full_name",
        "Моб. телефон": "phone",
        "Почта": "email",
        "Дата рождения": "birthday",
    }
    counts = ("rows", "created", "updated", "unchanged", "rejected", "warned")
    # The row with a bad phone but a name is imported without the phone, with a warning.
    assert [preview[k] for k in counts] == [4, 3, 0, 0, 1, 1]
    assert Path(preview["error_file"]).is_file()
    assert not Customer.objects.exists()

    done = run("customers", str(path), "--json")
    assert done["status"] == "done" and done["dry_run"] is False
    assert [done[k] for k in counts] == [4, 3, 0, 0, 1, 1]
    assert Customer.objects.count() == 3
    errors = Path(done["error_file"]).read_bytes().decode("cp1251").splitlines()
    assert len(errors) == 3
    assert errors[1].startswith("Плохов Пётр;12345;") and errors[2].startswith(";12345;")

    undone = run("undo", str(done["job"]), "--json")
    assert (undone["status"], undone["removed"], undone["conflicts"]) == ("undone", 3, 0)
    assert not Customer.objects.exists()


def test_a_mapping_file_mode_and_match_keys(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("A;B\nИванов Иван;+79161234567\n", encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps({"columns": {"A": "full_name", "B": "phone"}, "match_by": ["phone"]}),
        encoding="utf-8",
    )
    result = run("customers", str(path), "--mapping", str(mapping), "--mode", "create", "--json")
    assert result["mapping"] == {"A": "full_name", "B": "phone"}
    assert (result["mode"], result["match_by"], result["created"]) == ("create", ["phone"], 1)


def test_errors_exit_with_code_1_and_say_why(tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02" * 500)
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("import", "customers", str(junk), "--json", stdout=out, stderr=StringIO())
    assert exit_.value.code == 1
    assert json.loads(out.getvalue())["error"]
    assert not ImportJob.objects.exists()
    with pytest.raises(SystemExit) as exit_:
        call_command("import", "undo", "999999", stdout=StringIO(), stderr=StringIO())
    assert exit_.value.code == 1


def test_the_text_summary_groups_counts_in_russian(tmp_path: Path) -> None:
    # The job number is an identifier (never grouped); the counts are quantities.
    path = tmp_path / "clients.csv"
    lines = ["ФИО;Телефон"] + [f"Петров{n} Иван;+7916{n:07d}" for n in range(1200)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = StringIO()
    with translation.override("ru"):
        call_command("import", "customers", str(path), stdout=out)
    job = ImportJob.objects.get()
    assert out.getvalue().strip() == (
        f"Импорт №{job.pk} (готово): строк — 1\u00a0200, новых — 1\u00a0200, обновлено — 0, "
        "без изменений — 0, отклонено — 0, с предупреждениями — 0."
    )
    out = StringIO()
    with translation.override("ru"):
        call_command("import", "undo", str(job.pk), stdout=out)
    assert out.getvalue().strip() == (
        f"Импорт №{job.pk} отменён: удалено — 1\u00a0200, восстановлено — 0, "
        "оставлено как есть (изменены после импорта) — 0."
    )
