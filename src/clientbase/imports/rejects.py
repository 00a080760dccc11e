"""The error file of an import: rejected rows in the input's own format, plus an error column.

The user opens it, fixes the values and imports the same file again, so values are written back
as they were read: same encoding and delimiter for CSV, text cells (never numbers or formulas) in
an XLSX for spreadsheet input. A CSV cell a spreadsheet would run as a formula gets an apostrophe
in front, as exports do; the import takes it off again, so the file still imports unchanged.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import polars as pl
import xlsxwriter

from clientbase.core.file_fields import neutralise
from clientbase.imports.readers import TableInfo

# Excel refuses longer cells; a longer value could not have come from a spreadsheet anyway.
XLSX_MAX_CELL_CHARS = 32_767
_BAD_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


def reject_suffix(info: TableInfo) -> str:
    """ ".csv" for CSV input, ".xlsx" for any spreadsheet (XLS and ODS are not written)."""
    return ".csv" if info.file_format == "csv" else ".xlsx"


class RejectWriter:
    """Writes rejected rows to `path` (its suffix set by the input format) as they come.

    The file is built under a temporary name and only gets its final name on a clean close,
    so a failed import never leaves half an error file behind. Nothing is created when no
    row is written (`rows_written` stays 0).
    """

    def __init__(self, path: Path, info: TableInfo, error_header: str):
        self.info = info
        self.error_header = error_header
        self.path = Path(path).with_suffix(reject_suffix(info))
        self.rows_written = 0
        self._partial = self.path.with_name(self.path.name + ".part")
        self._csv_file: IO[str] | None = None
        self._csv: Any = None
        self._workbook: xlsxwriter.Workbook | None = None
        self._sheet: Any = None
        self._next_row = 0

    def __enter__(self) -> RejectWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def write(self, rows: pl.DataFrame, errors: Sequence[str]) -> None:
        """Append `rows` (columns c0..; others ignored) with one error text per row."""
        if rows.height != len(errors):
            raise ValueError(f"{rows.height} rows but {len(errors)} error texts")
        if not rows.height:
            return
        width = len(self.info.headers)
        columns = [
            rows.get_column(f"c{i}").cast(pl.String).fill_null("").to_list()
            if f"c{i}" in rows.columns
            else [""] * rows.height
            for i in range(width)
        ]
        records = [
            [column[index] for column in columns] + [str(errors[index])]
            for index in range(rows.height)
        ]
        if self.info.file_format == "csv":
            self._write_csv(records)
        else:
            self._write_xlsx(records)
        self.rows_written += len(records)

    def close(self) -> None:
        """Finish the file and give it its final name."""
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
        elif self._workbook is not None:
            self._workbook.close()
            self._workbook = None
        else:
            return
        self._partial.replace(self.path)

    def discard(self) -> None:
        """Drop what was written (the import failed): no error file at all."""
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file = None
        if self._workbook is not None:
            try:
                self._workbook.close()
            finally:
                self._workbook = None
        self._partial.unlink(missing_ok=True)

    def _header(self) -> list[str]:
        return [*self.info.headers, self.error_header]

    def _write_csv(self, records: list[list[str]]) -> None:
        if self._csv_file is None:
            # The input's encoding (a "utf-8-sig" or "utf-16" input gets its BOM back);
            # characters it cannot hold become "?" rather than failing the whole import.
            self._csv_file = self._partial.open(
                "w", encoding=self.info.encoding or "utf-8", errors="replace", newline=""
            )
            self._csv = csv.writer(self._csv_file, delimiter=self.info.delimiter or ",")
            self._csv.writerow([neutralise(text) for text in self._header()])
        self._csv.writerows([neutralise(text) for text in record] for record in records)

    def _write_xlsx(self, records: list[list[str]]) -> None:
        if self._workbook is None:
            self._workbook = xlsxwriter.Workbook(
                str(self._partial),
                {
                    "constant_memory": True,
                    # Everything stays text: phones keep their digits, "=..." is not run.
                    "strings_to_numbers": False,
                    "strings_to_formulas": False,
                    "strings_to_urls": False,
                },
            )
            self._sheet = self._workbook.add_worksheet(_sheet_name(self.info.sheet))
            self._write_xlsx_row(self._header())
        for record in records:
            self._write_xlsx_row(record)

    def _write_xlsx_row(self, values: list[str]) -> None:
        for column, value in enumerate(values):
            if value:
                self._sheet.write_string(self._next_row, column, value[:XLSX_MAX_CELL_CHARS])
        self._next_row += 1


def _sheet_name(name: str) -> str:
    name = _BAD_SHEET_NAME.sub("_", name).strip("'")[:31]
    return name or "Sheet1"
