"""The error file: rejected rows go back in the input's own format and read back unchanged."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest
import python_calamine
import xlsxwriter

from clientbase.imports import normalize
from clientbase.imports.readers import TableInfo, open_table
from clientbase.imports.rejects import RejectWriter, reject_suffix

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
HEADERS = ["Имя", "Телефон", "Комментарий"]
ROWS = [
    ["Иван", "79161234567", "=cmd|' /C calc'!A0"],
    ["Мария", "+7 (903) 765-43-21", 'многострочный;\n"текст", с запятой'],
    ["Пётр", "", ""],
]
ERRORS = ["Телефон: неверный номер", "E-mail обязателен", "Пустая строка"]


def frame(rows: list[list[str]]) -> pl.DataFrame:
    columns = {f"c{i}": [row[i] for row in rows] for i in range(len(rows[0]))}
    return pl.DataFrame({**columns, "__row": list(range(2, 2 + len(rows)))})


def csv_info(encoding: str, delimiter: str) -> TableInfo:
    return TableInfo("csv", encoding, delimiter, "", [], list(HEADERS))


def read_back(path: Path) -> tuple[TableInfo, list[list[str]]]:
    with open_table(path) as table:
        batches = list(table.batches())
        cells = [f"c{i}" for i in range(len(table.info.headers))]
        rows = [list(r) for b in batches for r in b.select(cells).iter_rows()]
        return table.info, rows


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8", ","),
        ("utf-8-sig", ";"),
        ("cp1251", ";"),
        ("utf-16", "\t"),
        ("utf-16-le", "|"),
        ("koi8-r", ","),
    ],
)
def test_csv_error_file_keeps_encoding_delimiter_and_values(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    with RejectWriter(tmp_path / "errors", csv_info(encoding, delimiter), "Ошибка") as writer:
        writer.write(frame(ROWS[:2]), ERRORS[:2])
        writer.write(frame(ROWS[2:]), ERRORS[2:])

    assert writer.path == tmp_path / "errors.csv"
    assert writer.rows_written == 3
    info, rows = read_back(writer.path)
    assert info.encoding == encoding
    assert info.delimiter == delimiter
    assert info.headers == [*HEADERS, "Ошибка"]
    # A cell a spreadsheet would run as a formula gets an apostrophe, as in exports.
    assert rows == [
        ["Иван", "79161234567", "'=cmd|' /C calc'!A0", ERRORS[0]],
        ["Мария", "'+7 (903) 765-43-21", 'многострочный;\n"текст", с запятой', ERRORS[1]],
        ["Пётр", "", "", ERRORS[2]],
    ]


def test_utf16_error_file_starts_with_a_bom(tmp_path: Path) -> None:
    with RejectWriter(tmp_path / "e.csv", csv_info("utf-16", ";"), "Ошибка") as writer:
        writer.write(frame(ROWS), ERRORS)

    assert writer.path.read_bytes()[:2] == b"\xff\xfe"


def test_characters_the_encoding_cannot_hold_become_question_marks(tmp_path: Path) -> None:
    with RejectWriter(tmp_path / "e.csv", csv_info("cp1251", ";"), "Ошибка") as writer:
        writer.write(frame([["Иван 😀", "1", "ş"]]), ["нет"])

    assert read_back(writer.path)[1] == [["Иван ?", "1", "?", "нет"]]


@pytest.mark.parametrize("file_format", ["xlsx", "xls", "ods"])
def test_spreadsheet_input_gets_an_xlsx_of_text_cells(tmp_path: Path, file_format: str) -> None:
    info = TableInfo(file_format, "", "", "Клиенты", ["Клиенты"], list(HEADERS))
    assert reject_suffix(info) == ".xlsx"

    with RejectWriter(tmp_path / "errors.csv", info, "Ошибка") as writer:
        writer.write(frame(ROWS), ERRORS)

    assert writer.path == tmp_path / "errors.xlsx"
    workbook = python_calamine.CalamineWorkbook.from_path(str(writer.path))
    assert workbook.sheet_names == ["Клиенты"]
    cells = workbook.get_sheet_by_name("Клиенты").to_python()
    # Phones stay text (no 7.9e10), formulas are text, not run.
    assert cells == [[*HEADERS, "Ошибка"]] + [
        [*row, error] for row, error in zip(ROWS, ERRORS, strict=True)
    ]
    with zipfile.ZipFile(writer.path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b't="n"' not in sheet


def test_xlsx_round_trip_through_the_reader(tmp_path: Path) -> None:
    source = tmp_path / "in.xlsx"
    workbook = xlsxwriter.Workbook(str(source))
    sheet = workbook.add_worksheet("Клиенты")
    sheet.write_row(0, 0, ["Имя", "Телефон"])
    sheet.write_string(1, 0, "Иван")
    sheet.write_number(1, 1, 79161234567)
    workbook.close()

    with open_table(source) as table:
        rows = pl.concat(list(table.batches()))
        with RejectWriter(tmp_path / "errors", table.info, "Ошибка") as writer:
            writer.write(rows, ["плохой телефон"])

    info, back = read_back(writer.path)
    assert info.sheet == "Клиенты"
    assert info.headers == ["Имя", "Телефон", "Ошибка"]
    assert back == [["Иван", "79161234567", "плохой телефон"]]


def test_xls_fixture_rows_go_to_an_xlsx(tmp_path: Path) -> None:
    with open_table(DATA / "customers.xls") as table:
        rows = pl.concat(list(table.batches()))
        with RejectWriter(tmp_path / "errors", table.info, "Error") as writer:
            writer.write(rows, ["a", "b"])

    info, back = read_back(writer.path)
    assert info.file_format == "xlsx"
    assert back == [
        ["Иван", "79161234567", "1990-08-24", "12.5", "TRUE", "", "a"],
        ["Мария", "37360123456", "", "", "", "", "b"],
    ]


def test_no_rows_means_no_file(tmp_path: Path) -> None:
    with RejectWriter(tmp_path / "e", csv_info("utf-8", ","), "Ошибка") as writer:
        writer.write(frame(ROWS).head(0), [])

    assert writer.rows_written == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_failed_import_leaves_no_error_file(tmp_path: Path, file_format: str) -> None:
    info = TableInfo(file_format, "utf-8", ",", "", [], list(HEADERS))

    with pytest.raises(RuntimeError), RejectWriter(tmp_path / "e", info, "Ошибка") as writer:
        writer.write(frame(ROWS), ERRORS)
        raise RuntimeError("the import failed")

    assert list(tmp_path.iterdir()) == []


def test_error_count_must_match_rows(tmp_path: Path) -> None:
    writer = RejectWriter(tmp_path / "e", csv_info("utf-8", ","), "Ошибка")
    with pytest.raises(ValueError):
        writer.write(frame(ROWS), ERRORS[:1])


def test_missing_and_null_cells_are_written_empty(tmp_path: Path) -> None:
    rows = pl.DataFrame({"c0": ["Иван"], "c1": [None]}, schema={"c0": pl.String, "c1": pl.String})
    with RejectWriter(tmp_path / "e", csv_info("utf-8", ","), "Ошибка") as writer:
        writer.write(rows, ["нет комментария"])

    assert read_back(writer.path)[1] == [["Иван", "", "", "нет комментария"]]


def test_sheet_names_excel_refuses_are_made_safe(tmp_path: Path) -> None:
    info = TableInfo("ods", "", "", "Лист: 1/2 [все] клиенты за 2024 год", [], list(HEADERS))
    with RejectWriter(tmp_path / "e", info, "Ошибка") as writer:
        writer.write(frame(ROWS), ERRORS)

    workbook = python_calamine.CalamineWorkbook.from_path(str(writer.path))
    assert workbook.sheet_names == ["Лист_ 1_2 _все_ клиенты за 2024"]


def test_csv_error_file_neutralises_formulas_and_imports_back_unchanged(tmp_path: Path) -> None:
    formulas = ['=HYPERLINK("http://evil.example","Жми")', "+cmd|' /C calc'!A0", "-1+2", "@SUM(A1)"]
    rows = [[value, "", ""] for value in formulas]
    with RejectWriter(tmp_path / "errors", csv_info("utf-8", ";"), "Ошибка") as writer:
        writer.write(frame(rows), ["нет телефона"] * len(rows))

    _info, back = read_back(writer.path)
    assert [row[0] for row in back] == ["'" + value for value in formulas]
    # The import takes the apostrophe off again: the value is the one the user had.
    assert normalize._unneutralised(pl.Series([row[0] for row in back])).to_list() == formulas
