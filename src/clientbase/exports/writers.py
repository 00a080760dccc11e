"""Export writers: values to CSV text and XLSX cells, streamed, in bounded memory."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from django.utils import timezone

from clientbase.core.file_fields import neutralise
from clientbase.exports.columns import (
    BIRTHDAY,
    BOOL,
    CODE,
    DATE,
    DATETIME,
    ID,
    INT,
    MONEY,
    PHONE,
    TEXT,
    Column,
)

# Rows between two progress reports of a background job.
PROGRESS_EVERY = 2000
# Excel's own limits: characters in a cell, rows in a sheet (the header takes one).
XLSX_CELL_MAX = 32767
XLSX_SHEET_ROWS = 1_048_576


def _local(moment: dt.datetime) -> dt.datetime:
    # Whole seconds, as the CSV writes them: both formats hold the same moment.
    return timezone.localtime(moment).replace(tzinfo=None, microsecond=0)


def _csv_cell(kind: str) -> Callable[[Any], str]:
    """Value -> CSV text, by kind. Numbers use a point: the file is for machines as much as
    for people, and the import reads it back in any language."""
    if kind in (TEXT, CODE, PHONE):
        # A phone "+7..." is a formula start too: the apostrophe also keeps it text in Excel.
        return neutralise
    if kind == DATETIME:
        return lambda v: _local(v).isoformat(sep=" ", timespec="seconds") if v else ""
    if kind == DATE:
        return lambda v: v.isoformat() if v else ""
    if kind == BIRTHDAY:
        # A day without a year is text: "--08-24" would be a formula (-(-8)-24) to a
        # spreadsheet, so it is neutralised like any text; "24.08" stays as it is.
        return lambda v: v.isoformat() if isinstance(v, dt.date) else neutralise(v)
    if kind == BOOL:
        return lambda v: "" if v is None else ("yes" if v else "no")
    return lambda v: "" if v is None else str(v)  # ID, INT, MONEY


def _header(columns: Sequence[Column]) -> list[str]:
    return [str(c.label) for c in columns]


def csv_chunks(
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    delimiter: str = ";",
    chunk_rows: int = 500,
    counter: list[int] | None = None,
) -> Iterator[str]:
    """The CSV text in chunks: a BOM and the header, then `chunk_rows` rows at a time.

    The BOM makes Excel read UTF-8; the semicolon is the list separator of Russian Excel, which
    would put a comma-separated file in one column.
    """
    converters = [_csv_cell(c.kind) for c in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(_header(columns))
    yield "\ufeff" + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([convert(v) for convert, v in zip(converters, row, strict=True)])
        pending += 1
        if counter is not None:
            counter[0] += 1
        if pending == chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


Progress = Callable[[int], None]


def write_csv(
    target: IO[str],
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    delimiter: str = ";",
    progress: Progress | None = None,
) -> int:
    counter = [0]
    last_report = 0
    for chunk in csv_chunks(rows, columns, delimiter=delimiter, counter=counter):
        target.write(chunk)
        if progress is not None and counter[0] - last_report >= PROGRESS_EVERY:
            last_report = counter[0]
            progress(counter[0])
    return counter[0]


def write_xlsx(
    target: str | IO[bytes],
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    sheet_name: str = "",
    progress: Progress | None = None,
) -> int:
    """An XLSX workbook in constant memory: each row goes to disk once the next one starts.

    Phones, ids and every text are string cells (a spreadsheet never turns them into numbers or
    formulas); dates are date cells; counts and money are numbers. A sheet holds 1,048,575 rows
    under its header; more continue on a next sheet.
    """
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        target, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    money_format = workbook.add_format({"num_format": "0.00"})
    header = _header(columns)
    base_name = (sheet_name or "export")[:25]
    kinds = [c.kind for c in columns]
    count = 0
    sheet_number = 0

    def new_sheet() -> Any:
        nonlocal sheet_number
        sheet_number += 1
        name = base_name if sheet_number == 1 else f"{base_name} ({sheet_number})"
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, header, bold)
        sheet.freeze_panes(1, 0)
        return sheet

    sheet = new_sheet()
    row_index = 0
    for values in rows:
        row_index += 1
        if row_index == XLSX_SHEET_ROWS:
            sheet = new_sheet()
            row_index = 1
        write_string = sheet.write_string
        for col, (kind, value) in enumerate(zip(kinds, values, strict=True)):
            if value is None or value == "":
                continue
            if kind in (TEXT, CODE):
                write_string(row_index, col, neutralise(value)[:XLSX_CELL_MAX])
            elif kind in (PHONE, ID):
                write_string(row_index, col, str(value))
            elif kind == INT:
                sheet.write_number(row_index, col, value)
            elif kind == MONEY:
                sheet.write_number(row_index, col, float(value), money_format)
            elif kind == DATE:
                sheet.write_datetime(row_index, col, value, date_format)
            elif kind == BIRTHDAY:
                if isinstance(value, dt.date):
                    sheet.write_datetime(row_index, col, value, date_format)
                else:
                    # Our own "--08-24" or "24.08", never a formula in a string cell.
                    write_string(row_index, col, value)
            elif kind == DATETIME:
                sheet.write_datetime(row_index, col, _local(value), datetime_format)
            elif kind == BOOL:
                write_string(row_index, col, "yes" if value else "no")
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    workbook.close()
    return count
