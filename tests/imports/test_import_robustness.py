"""Malformed files through the whole engine, and an import killed with SIGKILL then resumed."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from clientbase.customers.models import Customer, CustomerPhone
from clientbase.imports.models import ImportJob
from clientbase.imports.readers import ReadError
from clientbase.imports.services import import_file

pytestmark = pytest.mark.django_db

CLIENTBASE = str(Path(sys.executable).with_name("clientbase"))


@pytest.fixture(autouse=True)
def _no_backup(settings: Any) -> None:
    settings.IMPORT_BACKUP = False


def _data_rows(job: ImportJob) -> int:
    return job.rows_created + job.rows_updated + job.rows_unchanged + job.rows_rejected


MALFORMED = {
    # more values than headers: that row is rejected, the others go in
    "ragged.csv": (
        "Имя;Телефон\nАнна;+79160000001\nБорис;+79160000002;лишнее;ещё\nВера;+79160000003\n",
        3,
        1,
    ),
    # a 20,000-character cell is over the reader's limit: its row is rejected
    "huge-cell.csv": (
        "Имя;Телефон\nАнна;+79160000001\n" + "Б" * 20_000 + ";+79160000002\n",
        2,
        1,
    ),
    # formulas are plain text, never run; a formula in the phone column is not a phone
    "formulas.csv": (
        'Имя;Телефон\n=HYPERLINK("http://x");+79160000001\n;=1+2\n',
        2,
        1,
    ),
    # comma file with quoted commas and a line break inside a quoted name
    "quoted.csv": (
        'Name,Phone,Email\n"Ivanov, Ivan",+79160000001,a@b.ru\n"Anna\nPetrova",+79160000002,\n',
        2,
        0,
    ),
    # only a header: nothing to do, nothing written
    "header-only.csv": ("Имя;Телефон\n", 0, 0),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_rows_are_rejected_and_the_rest_add_up(tmp_path: Path, name: str) -> None:
    text, rows, rejected = MALFORMED[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    job = import_file(actor=None, kind="customers", path=path)
    assert job.rows_done == rows
    assert _data_rows(job) == rows
    assert job.rows_rejected == rejected
    assert Customer.objects.count() == job.rows_created
    # A rejected row left nothing behind: every stored phone belongs to an accepted row.
    assert CustomerPhone.objects.count() == job.rows_created


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\x01\x02junk" * 100,
        b"%PDF-1.4\n" + bytes(range(256)) * 4,
        b"PK\x03\x04" + b"\x00" * 100,  # a truncated archive
    ],
)
def test_unreadable_files_are_refused_before_anything_is_written(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(content)
    with pytest.raises(ReadError):
        import_file(actor=None, kind="customers", path=path)
    assert not ImportJob.objects.exists()
    assert not Customer.objects.exists()


def test_utf16_and_xlsx_with_numeric_phones(tmp_path: Path) -> None:
    utf16 = tmp_path / "excel-unicode.csv"
    utf16.write_text("Фамилия\tИмя\tТелефон\nИванова\tАнна\t+7 916 000-00-01\n", encoding="utf-16")
    job = import_file(actor=None, kind="customers", path=utf16)
    assert (job.encoding.startswith("utf-16"), job.delimiter, job.rows_created) == (True, "\t", 1)
    book_path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(book_path))
    sheet = book.add_worksheet("Клиенты")
    sheet.write_row(0, 0, ["Фамилия", "Имя", "Мобильный", "Дата рождения"])
    sheet.write_row(1, 0, ["Петров", "Пётр", 79160000002])
    sheet.write_datetime(
        1, 3, dt.datetime(1990, 8, 24), book.add_format({"num_format": "dd.mm.yyyy"})
    )
    book.close()
    job = import_file(actor=None, kind="customers", path=book_path)
    assert (job.file_format, job.sheet, job.rows_created) == ("xlsx", "Клиенты", 1)
    petrov = Customer.objects.get(last_name="Петров")
    assert petrov.primary_phone == "+79160000002"
    assert str(petrov.birthday) == "1990-08-24"


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_an_import_killed_with_sigkill_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    """A real process, a real SIGKILL between batches, a real resume: SQLite on disk."""
    rows = 6000
    source = tmp_path / "big.csv"
    lines = ["ФИО;Телефон;Почта"]
    lines += [f"Клиент{i} Тестовый;+7916{i:07d};c{i}@mail.ru" for i in range(rows)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "CLIENTBASE_DATA_DIR": str(data_dir),
        "IMPORT_BACKUP": "false",
        "IMPORT_BATCH_ROWS": "200",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "CLIENTBASE_TESTING", "REDIS_URL"):
        env.pop(name, None)
    subprocess.run([CLIENTBASE, "migrate", "-v0"], env=env, check=True)
    database = data_dir / "clientbase.sqlite3"
    process = subprocess.Popen(
        [CLIENTBASE, "import", "customers", str(source), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    committed = 0
    try:
        while process.poll() is None:
            try:
                with sqlite3.connect(database, timeout=5) as db:
                    committed = db.execute("SELECT COUNT(*) FROM imports_importbatch").fetchone()[0]
            except sqlite3.OperationalError:
                committed = 0
            if committed >= 3:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    with sqlite3.connect(database) as db:
        job_id, status = db.execute("SELECT id, status FROM imports_importjob").fetchone()
        before = db.execute("SELECT COUNT(*) FROM customers_customer").fetchone()[0]
    assert status == "running"
    assert 0 < before < rows
    resumed = subprocess.run(
        [CLIENTBASE, "import", "resume", str(job_id), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "done"
    assert summary["created"] == rows and summary["rejected"] == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM customers_customer").fetchone()[0] == rows
        assert db.execute(
            "SELECT COUNT(DISTINCT number), COUNT(*) FROM customers_customerphone"
        ).fetchone() == (rows, rows)
        spans = db.execute(
            "SELECT first_row, last_row FROM imports_importbatch ORDER BY seq"
        ).fetchall()
    assert spans[0][0] == 2 and spans[-1][1] == rows + 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
