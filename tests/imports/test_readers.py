"""Import file readers on real files: every encoding, delimiter and format, and hostile files.

Each file either gives a ReadError with a code that says what is wrong, or a table whose rows
(fine plus those with a __problem) add up to the data rows of the file.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientbase.imports.readers import (
    ReadError,
    ReadLimits,
    Table,
    cell_text,
    open_table,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    # Each example overwrites the one file it uses, so sharing tmp_path is fine.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HEADERS = ["Фамилия", "Имя", "Телефон", "Город"]
PEOPLE = [
    ["Иванов", "Иван", "+7 916 123-45-67", "Москва"],
    ["Петрова", "Мария", "8 (903) 765-43-21", "Санкт-Петербург"],
    ["Сидоров", "Пётр", "79261112233", "Екатеринбург"],
    ["Кузнецова", "Анна", "+7-999-000-11-22", "Нижний Новгород"],
    ["Смирнов", "Алексей", "89161234567", "Ростов-на-Дону"],
    ["Попова", "Елена", "+79031234567", "Новосибирск"],
    ["Васильев", "Дмитрий", "8 916 555 44 33", "Казань"],
    ["Соколова", "Ольга", "+7 (495) 123-45-67", "Челябинск"],
]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def csv_text(rows: list[list[str]], delimiter: str = ";") -> str:
    def quoted(cell: str) -> str:
        if any(c in cell for c in (delimiter, '"', "\n", "\r")):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    return "".join(delimiter.join(quoted(c) for c in row) + "\r\n" for row in rows)


def all_rows(table: Table, **kwargs: int) -> pl.DataFrame:
    batches = list(table.batches(**kwargs))
    return pl.concat(batches) if batches else table.sample(0)


def values(frame: pl.DataFrame) -> list[list[str]]:
    cells = [c for c in frame.columns if c.startswith("c")]
    return [list(row) for row in frame.select(cells).iter_rows()]


def read_error(path: Path, **kwargs: object) -> ReadError:
    with pytest.raises(ReadError) as excinfo:
        table = open_table(path, **kwargs)  # type: ignore[arg-type]
        try:
            table.count_rows()
            list(table.batches())
        finally:
            table.close()
    return excinfo.value


def assert_rows_add_up(table: Table, data_rows: int) -> pl.DataFrame:
    """Accepted plus rejected rows equal the data rows, and count_rows says the same."""
    rows = all_rows(table)
    fine = rows.filter(pl.col("__problem").is_null()).height
    rejected = rows.filter(pl.col("__problem").is_not_null()).height
    assert fine + rejected == data_rows
    assert table.count_rows() == data_rows
    return rows


# --- CSV: encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "data_encoding", "expected"),
    [
        ("utf-8", "utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig", "utf-8-sig"),
        ("cp1251", "cp1251", "cp1251"),
        ("koi8-r", "koi8-r", "koi8-r"),
        ("utf-16", "utf-16", "utf-16"),
        ("utf-16-le without BOM", "utf-16-le", "utf-16-le"),
        ("utf-16-be without BOM", "utf-16-be", "utf-16-be"),
    ],
)
def test_csv_in_every_encoding_reads_russian_headers_and_values(
    tmp_path: Path, encoding: str, data_encoding: str, expected: str
) -> None:
    path = write(tmp_path, "c.txt", csv_text([HEADERS, *PEOPLE]).encode(data_encoding))

    with open_table(path) as table:
        assert table.info.file_format == "csv"
        assert table.info.encoding == expected
        assert table.info.delimiter == ";"
        assert table.info.headers == HEADERS
        assert table.info.sheet == "" and table.info.sheets == []
        rows = assert_rows_add_up(table, len(PEOPLE))

    assert values(rows) == PEOPLE
    assert rows["__row"].to_list() == list(range(2, 2 + len(PEOPLE)))
    assert rows["__problem"].null_count() == len(PEOPLE)


def test_a_western_legacy_encoding_is_read(tmp_path: Path) -> None:
    rows = [["Name", "City", "Note"]] + [
        [f"José Müller {i}", "Zürich", "Café crème, très bon"] for i in range(10)
    ]
    path = write(tmp_path, "c.csv", csv_text(rows, ",").encode("cp1252"))

    with open_table(path) as table:
        assert table.info.delimiter == ","
        assert values(all_rows(table)) == rows[1:]


def test_romanian_in_cp1250_is_read(tmp_path: Path) -> None:
    rows = [["Nume", "Prenume", "Oraş"]] + [
        [f"Ţăranu {i}", "Ştefan", "Bucureşti, Piaţa Unirii; mâine îţi scriu"] for i in range(10)
    ]
    path = write(tmp_path, "c.csv", csv_text(rows, ",").encode("cp1250"))

    with open_table(path) as table:
        assert table.info.encoding == "cp1250"
        assert values(all_rows(table)) == rows[1:]


def test_utf8_file_whose_first_megabyte_is_ascii_is_still_utf8(tmp_path: Path) -> None:
    ascii_rows = [["name", "city"]] + [[f"user{i}", "London"] for i in range(80_000)]
    text = csv_text(ascii_rows, ",") + "Ёлкин,Москва\r\n"
    path = write(tmp_path, "c.csv", text.encode("utf-8"))

    with open_table(path) as table:
        assert table.info.encoding == "utf-8"
        rows = all_rows(table, start_row=80_002)
    assert values(rows) == [["Ёлкин", "Москва"]]
    assert rows["__row"].to_list() == [80_002]


def test_cp1251_after_a_long_ascii_start_is_detected_and_transcoded(tmp_path: Path) -> None:
    ascii_rows = [["name", "city"]] + [[f"user{i}", "London"] for i in range(80_000)]
    text = csv_text(ascii_rows, ",") + csv_text([[p[1], p[3]] for p in PEOPLE], ",")
    path = write(tmp_path, "c.csv", text.encode("cp1251"))

    with open_table(path) as table:
        assert table.info.encoding == "cp1251"
        rows = assert_rows_add_up(table, 80_000 + len(PEOPLE))
    assert values(rows.tail(2)) == [[p[1], p[3]] for p in PEOPLE[-2:]]


def test_a_three_line_cp1251_file_is_read(tmp_path: Path) -> None:
    # On so little Russian text charset-normalizer rates cp1255 (Hebrew) a little above
    # cp1251; the file was refused as "encoding unknown" (found by the first-hour test).
    text = (
        "ФИО;Телефон;E-mail;Город\n"
        "Лебедева Ирина;+7 (903) 111-22-33;irina@example.ru;москва\n"
        "Лебедев Олег;8 903 111 22 33;oleg@example.ru;Москва\n"
    )
    path = write(tmp_path, "c.csv", text.encode("cp1251"))

    with open_table(path) as table:
        assert table.info.encoding == "cp1251"
        rows = assert_rows_add_up(table, 2)
    assert values(rows)[0] == ["Лебедева Ирина", "+7 (903) 111-22-33", "irina@example.ru", "москва"]


def test_transcoded_copy_is_removed_on_close(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", csv_text([HEADERS, *PEOPLE]).encode("cp1251"))

    table = open_table(path)
    copy = table._temporary  # type: ignore[attr-defined]
    assert copy is not None and copy.exists()
    table.close()
    assert not copy.exists()

    forgotten = open_table(path)
    copy = forgotten._temporary  # type: ignore[attr-defined]
    del forgotten
    gc.collect()
    assert not copy.exists()


# --- CSV: delimiters and quoting ------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed_even_when_other_delimiters_are_inside_quotes(
    tmp_path: Path, delimiter: str
) -> None:
    d = delimiter
    text = (
        f"Имя{d}Адрес{d}Комментарий\n"
        f'Иван{d}"Москва, ул. Ленина; д. 1"{d}"a|b\tc"\n'
        f'Мария{d}"Казань; ул. Баумана, 2"{d}просто текст\n'
        f"Пётр{d}Тверь{d}\n"
    )
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        assert table.info.delimiter == delimiter
        assert table.info.headers == ["Имя", "Адрес", "Комментарий"]
        rows = assert_rows_add_up(table, 3)
    assert values(rows) == [
        ["Иван", "Москва, ул. Ленина; д. 1", "a|b\tc"],
        ["Мария", "Казань; ул. Баумана, 2", "просто текст"],
        ["Пётр", "Тверь", ""],
    ]


def test_single_column_file_uses_a_comma(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", b"email\na@example.com\nb@example.com\n")

    with open_table(path) as table:
        assert table.info.delimiter == ","
        assert table.info.headers == ["email"]
        assert values(all_rows(table)) == [["a@example.com"], ["b@example.com"]]


def test_quoted_multiline_fields_and_doubled_quotes_keep_record_numbers(tmp_path: Path) -> None:
    text = (
        "Имя;Комментарий;Телефон\n"
        'Иван;"первая строка\nвторая; строка\nтретья";+79161234567\n'
        'Мария;"она сказала ""да""";+79031234567\n'
        "Пётр;;+79261112233\n"
    )
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        rows = assert_rows_add_up(table, 3)
    assert values(rows) == [
        ["Иван", "первая строка\nвторая; строка\nтретья", "+79161234567"],
        ["Мария", 'она сказала "да"', "+79031234567"],
        ["Пётр", "", "+79261112233"],
    ]
    assert rows["__row"].to_list() == [2, 3, 4]


def test_old_mac_line_ends_are_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "Имя;Телефон\rИван;1\rМария;2\r".encode("cp1251"))

    with open_table(path) as table:
        rows = assert_rows_add_up(table, 2)
    assert values(rows) == [["Иван", "1"], ["Мария", "2"]]
    assert rows["__row"].to_list() == [2, 3]


def test_formulas_are_read_as_plain_text(tmp_path: Path) -> None:
    formulas = ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1:A2)", '=HYPERLINK("http://x")']
    text = "Имя,Комментарий\n" + "".join(
        f'x,"{f.replace(chr(34), chr(34) * 2)}"\n' for f in formulas
    )
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        rows = assert_rows_add_up(table, len(formulas))
    assert rows["c1"].to_list() == formulas


# --- CSV: ragged, huge and blank rows -------------------------------------------------------


def test_rows_with_too_many_values_get_a_problem_and_short_rows_are_padded(
    tmp_path: Path,
) -> None:
    text = "a;b;c\n1;2;3\n4;5;6;7\n8;9\n10\n11;12;13;14;15;16\n17;18;19;\n"
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        rows = assert_rows_add_up(table, 6)
    assert values(rows) == [
        ["1", "2", "3"],
        ["4", "5", "6"],
        ["8", "9", ""],
        ["10", "", ""],
        ["11", "12", "13"],
        ["17", "18", "19"],
    ]
    problems = rows["__problem"].to_list()
    assert [p is not None for p in problems] == [False, True, False, False, True, False]
    assert "more values than the header has columns" in problems[1]


def test_values_under_trailing_blank_headers_are_too_many(tmp_path: Path) -> None:
    text = "a;b;;\n1;2;;\n3;4;;x\n"
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        assert table.info.headers == ["a", "b"]
        rows = assert_rows_add_up(table, 2)
    assert [p is not None for p in rows["__problem"]] == [False, True]


def test_blank_headers_in_the_middle_stay_blank(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", " Имя ;; Телефон \nИван;x;1\n".encode())

    with open_table(path) as table:
        assert table.info.headers == ["Имя", "", "Телефон"]
        assert values(all_rows(table)) == [["Иван", "x", "1"]]


def test_a_huge_cell_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    huge = "Я" * 20_000
    text = f"Имя;Комментарий\nИван;коротко\nМария;{huge}\nПётр;\n"
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        rows = assert_rows_add_up(table, 3)
    assert rows["c1"][1] == huge
    assert [p is not None for p in rows["__problem"]] == [False, True, False]
    assert "longer than 10,000 characters" in rows["__problem"][1]


def test_blank_rows_are_skipped_and_numbering_stays_right(tmp_path: Path) -> None:
    text = "a,b\n1,2\n\n,\n3,4\n\n\n5,6\n"
    path = write(tmp_path, "c.csv", text.encode())

    with open_table(path) as table:
        rows = assert_rows_add_up(table, 3)
    assert rows["__row"].to_list() == [2, 5, 8]


def test_batches_resume_from_start_row_and_have_the_requested_size(tmp_path: Path) -> None:
    rows = [["n", "square"]] + [[str(i), str(i * i)] for i in range(1, 1001)]
    path = write(tmp_path, "c.csv", csv_text(rows, ",").encode())

    with open_table(path) as table:
        batches = list(table.batches(size=300, start_row=502))
        sample = table.sample(5)

    resumed = pl.concat(batches)
    assert resumed["__row"].to_list() == list(range(502, 1002))
    assert resumed["c0"][0] == "501"
    assert sum(b.height for b in batches) == 500
    assert all(b.height <= 300 for b in batches)
    assert sample["c0"].to_list() == ["1", "2", "3", "4", "5"]
    assert sample.schema == pl.Schema(
        {"c0": pl.String, "c1": pl.String, "__row": pl.Int64, "__problem": pl.String}
    )


def test_header_only_file_is_a_table_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "Имя;Телефон\r\n".encode())

    with open_table(path) as table:
        assert table.info.headers == ["Имя", "Телефон"]
        assert table.count_rows() == 0
        assert list(table.batches()) == []
        assert table.sample().columns == ["c0", "c1", "__row", "__problem"]


def test_header_is_the_first_non_blank_row(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "\n\nИмя;Телефон\nИван;1\n".encode())

    with open_table(path) as table:
        assert table.info.headers == ["Имя", "Телефон"]
        rows = assert_rows_add_up(table, 1)
    assert rows["__row"].to_list() == [4]


# --- limits and junk ------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n\n\r\n", b"   \n", b";;;\n", "\ufeff".encode()])
def test_empty_files_are_refused(tmp_path: Path, content: bytes) -> None:
    assert read_error(write(tmp_path, "c.csv", content)).code == "file_empty"


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", b"a,b\n" + b"1,2\n" * 1000)

    error = read_error(path, limits=ReadLimits(max_bytes=1000))
    assert error.code == "file_too_big"


def test_size_limit_defaults_to_the_setting(settings: object) -> None:
    settings.IMPORT_MAX_FILE_MB = 3  # type: ignore[attr-defined]
    assert ReadLimits().max_bytes == 3 * 1024 * 1024


def test_ten_thousand_columns_are_refused(tmp_path: Path) -> None:
    header = ",".join(f"col{i}" for i in range(10_000))
    path = write(tmp_path, "c.csv", (header + "\n" + "1," * 9_999 + "1\n").encode())

    error = read_error(path)
    assert error.code == "too_many_columns"
    assert "10,000" in error.message


def test_junk_is_not_a_table(tmp_path: Path) -> None:
    rng = random.Random(4)
    junk = {
        "random.csv": bytes(rng.getrandbits(8) for _ in range(20_000)),
        "image.csv": b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(500)),
        "doc.csv": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(range(256)),
        "nul.csv": b"name,phone\nIvan,1\x00\x00\x002\n",
        "exe.xlsx": b"MZ\x90\x00" + bytes(200),
        "control.csv": bytes(range(1, 32)) * 50,
    }
    for name, data in junk.items():
        assert read_error(write(tmp_path, name, data)).code == "file_not_table", name


def test_a_zip_that_is_not_a_spreadsheet_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert read_error(path).code == "file_not_table"

    with zipfile.ZipFile(path, "w") as archive:  # a Word document
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert read_error(path).code == "file_not_table"


def test_unclosed_quote_in_a_big_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", b'name,"phone\n' + b"x" * 30_000 + b"\n")

    assert read_error(path).code == "file_not_table"


MAGICS = [
    b"",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
]


@PROPERTY
@given(prefix=st.sampled_from(MAGICS), data=st.binary(min_size=0, max_size=3000))
def test_random_bytes_never_raise_anything_but_read_error(
    tmp_path: Path, prefix: bytes, data: bytes
) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(prefix + data)
    try:
        with open_table(path) as table:
            total = sum(batch.height for batch in table.batches())
            assert table.count_rows() == total
            assert table.sample().height == min(total, 20)
    except ReadError as error:
        assert error.code and error.message


@PROPERTY
@given(
    rows=st.lists(
        st.lists(st.text(alphabet='ab ;,"\n\r\tЯ=', max_size=6), min_size=1, max_size=5),
        min_size=1,
        max_size=12,
    )
)
def test_random_csv_like_text_never_raises_anything_but_read_error(
    tmp_path: Path, rows: list[list[str]]
) -> None:
    path = tmp_path / "random.csv"
    path.write_text("\n".join(";".join(row) for row in rows), encoding="utf-8")
    try:
        with open_table(path) as table:
            total = sum(batch.height for batch in table.batches())
            assert table.count_rows() == total
    except ReadError as error:
        assert error.code


# --- spreadsheets ---------------------------------------------------------------------------


def make_xlsx(path: Path) -> Path:
    """Two sheets: an empty first one, customers with typed cells, then orders."""
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Пусто")
    customers = workbook.add_worksheet("Клиенты")
    orders = workbook.add_worksheet("Заказы")
    date_format = workbook.add_format({"num_format": "dd.mm.yyyy"})
    moment_format = workbook.add_format({"num_format": "dd.mm.yyyy hh:mm:ss"})
    customers.write_row(0, 0, [" Имя ", "Телефон", "Дата рождения", "Сумма", "VIP", "Заметка"])
    customers.write_string(1, 0, "Иван")
    customers.write_number(1, 1, 79161234567)
    customers.write_datetime(1, 2, dt.datetime(1990, 8, 24), date_format)
    customers.write_number(1, 3, 1234.5)
    customers.write_boolean(1, 4, True)
    customers.write_formula(1, 5, "=NA()", None, "#N/A")
    customers.write_string(2, 0, "Мария")
    customers.write_number(2, 1, 1e11)
    customers.write_datetime(2, 2, dt.datetime(2024, 3, 1, 14, 30, 5), moment_format)
    customers.write_number(2, 3, 0.1)
    customers.write_boolean(2, 4, False)
    customers.write_string(2, 5, "=cmd|' /C calc'!A0")
    # Row 4 left blank; row 5 has a value beyond the header; row 6 a huge cell.
    customers.write_string(4, 0, "Пётр")
    customers.write_string(4, 7, "лишнее")
    customers.write_string(5, 0, "Олег")
    customers.write_string(5, 5, "Ж" * 12_000)
    orders.write_row(0, 0, ["Номер", "Сумма"])
    orders.write_row(1, 0, [1001, 99.9])
    workbook.close()
    return path


def test_xlsx_cells_read_as_a_person_typed_them(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "customers.bin")

    with open_table(path) as table:
        assert table.info.file_format == "xlsx"
        assert table.info.encoding == "" and table.info.delimiter == ""
        assert table.info.sheets == ["Пусто", "Клиенты", "Заказы"]
        assert table.info.sheet == "Клиенты"
        assert table.info.headers == ["Имя", "Телефон", "Дата рождения", "Сумма", "VIP", "Заметка"]
        rows = assert_rows_add_up(table, 4)

    assert values(rows)[:2] == [
        ["Иван", "79161234567", "1990-08-24", "1234.5", "TRUE", ""],
        ["Мария", "100000000000", "2024-03-01 14:30:05", "0.1", "FALSE", "=cmd|' /C calc'!A0"],
    ]
    assert rows["__row"].to_list() == [2, 3, 5, 6]
    assert [p is not None for p in rows["__problem"]] == [False, False, True, True]


def test_xlsx_batches_resume_from_start_row(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "customers.xlsx")

    with open_table(path) as table:
        rows = all_rows(table, start_row=5, size=1)
    assert rows["__row"].to_list() == [5, 6]
    assert values(rows)[0][0] == "Пётр"


def test_xlsx_sheet_is_chosen_by_name(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "customers.xlsx")

    with open_table(path, sheet="Заказы") as table:
        assert table.info.sheet == "Заказы"
        assert table.info.headers == ["Номер", "Сумма"]
        assert values(all_rows(table)) == [["1001", "99.9"]]


def test_unknown_sheet_is_refused_with_the_list_of_sheets(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "customers.xlsx")

    error = read_error(path, sheet="Лист1")
    assert error.code == "sheet_not_found"
    assert "Пусто, Клиенты, Заказы" in error.message
    assert read_error(path, sheet="Пусто").code == "file_empty"


def test_xlsx_without_any_cell_is_empty(tmp_path: Path) -> None:
    workbook = xlsxwriter.Workbook(str(tmp_path / "e.xlsx"))
    workbook.add_worksheet()
    workbook.close()

    assert read_error(tmp_path / "e.xlsx").code == "file_empty"


def test_xlsx_header_only_and_too_wide(tmp_path: Path) -> None:
    workbook = xlsxwriter.Workbook(str(tmp_path / "h.xlsx"))
    workbook.add_worksheet().write_row(0, 0, ["Имя", "Телефон"])
    workbook.close()
    with open_table(tmp_path / "h.xlsx") as table:
        assert table.count_rows() == 0
        assert table.sample().height == 0

    workbook = xlsxwriter.Workbook(str(tmp_path / "w.xlsx"), {"constant_memory": True})
    workbook.add_worksheet().write_row(0, 0, [f"c{i}" for i in range(10_000)])
    workbook.close()
    assert read_error(tmp_path / "w.xlsx").code == "too_many_columns"


def test_xls_fixture_reads_like_the_xlsx(tmp_path: Path) -> None:
    with open_table(DATA / "customers.xls") as table:
        assert table.info.file_format == "xls"
        assert table.info.sheets == ["Клиенты", "Заказы"]
        assert table.info.headers == [
            "Имя",
            "Телефон",
            "Дата рождения",
            "Сумма",
            "Подписка",
            "Ошибка",
        ]
        rows = assert_rows_add_up(table, 2)
    assert values(rows) == [
        ["Иван", "79161234567", "1990-08-24", "12.5", "TRUE", ""],
        ["Мария", "37360123456", "", "", "", ""],
    ]

    with open_table(DATA / "customers.xls", sheet="Заказы") as table:
        assert values(all_rows(table)) == [["1001"]]


def test_xls_that_would_make_calamine_abort_is_refused(tmp_path: Path) -> None:
    # A damaged copy of customers.xls found by fuzzing: calamine asks for 736 GB on open and
    # aborts the whole process; the probe in a capped child process takes the blow.
    assert read_error(DATA / "damaged-alloc.xls").code == "file_corrupt"


def test_xls_sheet_area_is_limited(tmp_path: Path) -> None:
    limits = ReadLimits(max_sheet_cells=10)
    assert read_error(DATA / "customers.xls", limits=limits).code == "sheet_too_big"


def test_corrupt_and_truncated_xls_are_refused(tmp_path: Path) -> None:
    data = (DATA / "customers.xls").read_bytes()
    cases = {
        "truncated.xls": data[: len(data) // 2],
        "header-only.xls": data[:512],
        "junk.xls": data[:8] + bytes(random.Random(1).getrandbits(8) for _ in range(3000)),
        # calamine panics (a Rust assertion) on this one: still a ReadError.
        "one-byte-short.xls": data[:-1],
    }
    for name, content in cases.items():
        assert read_error(write(tmp_path, name, content)).code == "file_corrupt", name


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods_cell(value: object) -> str:
    if isinstance(value, bool):
        flag = str(value).lower()
        return (
            f'<table:table-cell office:value-type="boolean" office:boolean-value="{flag}">'
            f"<text:p>{flag}</text:p></table:table-cell>"
        )
    if isinstance(value, float | int):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'
    )


def make_ods(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A minimal OpenDocument spreadsheet: mimetype first and stored, then content.xml."""
    tables = "".join(
        f'<table:table table:name="{name}">'
        + "".join(
            "<table:table-row>" + "".join(ods_cell(v) for v in row) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} '
        f'office:version="1.2"><office:body><office:spreadsheet>{tables}'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "mimetype",
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_ods_is_read(tmp_path: Path) -> None:
    path = make_ods(
        tmp_path / "customers.ods",
        {
            "Клиенты": [
                ["Имя", "Телефон", "Дата рождения", "Активен"],
                ["Иван", 79161234567, dt.date(1990, 8, 24), True],
                ["Мария", 0.25, "24.08.1990", False],
            ],
            "Заказы": [["Номер"], [1]],
        },
    )

    with open_table(path) as table:
        assert table.info.file_format == "ods"
        assert table.info.sheets == ["Клиенты", "Заказы"]
        assert table.info.headers == ["Имя", "Телефон", "Дата рождения", "Активен"]
        rows = assert_rows_add_up(table, 2)
    assert values(rows) == [
        ["Иван", "79161234567", "1990-08-24", "TRUE"],
        ["Мария", "0.25", "24.08.1990", "FALSE"],
    ]


# --- hostile archives -----------------------------------------------------------------------


def rewrite_archive(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """Copy an xlsx or ods, swapping some members' content."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for member in old.infolist():
            data = replace.get(member.filename, old.read(member))
            new.writestr(member.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    return target


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    sheet = zipfile.ZipFile(source).read("xl/worksheets/sheet2.xml")
    padded = sheet.replace(b"</worksheet>", b" " * 20_000_000 + b"</worksheet>")
    bomb = rewrite_archive(source, tmp_path / "bomb.xlsx", {"xl/worksheets/sheet2.xml": padded})
    assert bomb.stat().st_size < 200_000

    assert read_error(bomb).code == "zip_bomb"
    assert read_error(source, limits=ReadLimits(max_unzipped_bytes=5_000)).code == "zip_bomb"


def test_archive_with_too_many_members_is_refused(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    path = tmp_path / "many.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for member in old.infolist():
            new.writestr(member, old.read(member))
        for i in range(10_001):
            new.writestr(f"xl/media/x{i}.bin", b"")

    assert read_error(path).code == "zip_bomb"


@pytest.mark.parametrize(
    "sheet_xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row><c t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData>'
        b"</worksheet>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'.encode(
            "utf-16"
        ),
    ],
    ids=["billion-laughs", "xxe", "utf-16"],
)
def test_xml_entity_tricks_are_refused(tmp_path: Path, sheet_xml: bytes) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    path = rewrite_archive(source, tmp_path / "evil.xlsx", {"xl/worksheets/sheet2.xml": sheet_xml})

    assert read_error(path).code == "xml_entities"


def test_sparse_sheet_bomb_is_refused_before_calamine_allocates_it(tmp_path: Path) -> None:
    # Two values in opposite corners: calamine would ask for 17 billion cells and abort.
    workbook = xlsxwriter.Workbook(str(tmp_path / "corners.xlsx"))
    sheet = workbook.add_worksheet()
    sheet.write(0, 0, "Имя")
    sheet.write(1_048_575, 16_383, "x")
    workbook.close()

    error = read_error(tmp_path / "corners.xlsx")
    assert error.code == "sheet_too_big"
    assert "17,179,869,184" in error.message


def test_sheet_extent_counts_values_not_blank_styled_cells(tmp_path: Path) -> None:
    workbook = xlsxwriter.Workbook(str(tmp_path / "styled.xlsx"))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Имя", "Телефон"])
    sheet.write_row(1, 0, ["Иван", "1"])
    sheet.write_blank(5_000, 300, None, workbook.add_format({"bold": True}))
    workbook.close()
    limits = ReadLimits(max_sheet_cells=10_000)

    with open_table(tmp_path / "styled.xlsx", limits=limits) as table:
        assert values(all_rows(table)) == [["Иван", "1"]]

    workbook = xlsxwriter.Workbook(str(tmp_path / "stray.xlsx"))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Имя", "Телефон"])
    sheet.write_string(5_000, 300, "забытая заметка")
    workbook.close()
    assert read_error(tmp_path / "stray.xlsx", limits=limits).code == "sheet_too_big"


def test_shared_strings_claiming_billions_are_refused_not_fatal(tmp_path: Path) -> None:
    # calamine reserves room for the claimed count up front: 96 GB, and the process aborts.
    source = make_xlsx(tmp_path / "ok.xlsx")
    strings = zipfile.ZipFile(source).read("xl/sharedStrings.xml")
    strings = re.sub(
        rb'count="\d+" uniqueCount="\d+"', b'count="4000000000" uniqueCount="4000000000"', strings
    )
    path = rewrite_archive(source, tmp_path / "sst.xlsx", {"xl/sharedStrings.xml": strings})

    assert read_error(path).code == "file_corrupt"


def test_cells_without_references_are_measured_too(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    cells = "".join(f'<c t="inlineStr"><is><t>v{i}</t></is></c>' for i in range(120))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData><row>{cells}</row><row>{cells}</row><row>{cells}</row></sheetData>"
        "</worksheet>"
    ).encode()
    path = rewrite_archive(source, tmp_path / "norefs.xlsx", {"xl/worksheets/sheet2.xml": sheet})

    with open_table(path, sheet="Клиенты") as table:
        assert table.info.headers[:2] == ["v0", "v1"]
        assert len(table.info.headers) == 120
        assert assert_rows_add_up(table, 2)["__row"].to_list() == [2, 3]
    limits = ReadLimits(max_sheet_cells=300)
    assert read_error(path, sheet="Клиенты", limits=limits).code == "sheet_too_big"


def test_ods_repeated_cells_bomb_is_refused(tmp_path: Path) -> None:
    value = '<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>'
    bomb = value.replace(
        "<table:table-cell ", '<table:table-cell table:number-columns-repeated="10000" '
    )
    path = make_ods(tmp_path / "bomb.ods", {"A": [["Имя"]]})
    content = (
        zipfile.ZipFile(path)
        .read("content.xml")
        .replace(
            b"</table:table>",
            f'<table:table-row table:number-rows-repeated="9000">{bomb}</table:table-row>'
            "</table:table>".encode(),
        )
    )
    path = rewrite_archive(path, tmp_path / "bomb2.ods", {"content.xml": content})

    error = read_error(path)
    assert error.code == "sheet_too_big"
    assert "90,010,000" in error.message


def test_ods_trailing_empty_repeated_rows_are_fine(tmp_path: Path) -> None:
    # LibreOffice ends every sheet like this; they are empty and calamine skips them.
    path = make_ods(tmp_path / "lo.ods", {"A": [["Имя", "Телефон"], ["Иван", "1"]]})
    content = (
        zipfile.ZipFile(path)
        .read("content.xml")
        .replace(
            b"</table:table>",
            b'<table:table-row table:number-rows-repeated="1048574">'
            b'<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
            b"</table:table>",
        )
    )
    path = rewrite_archive(path, tmp_path / "lo2.ods", {"content.xml": content})

    with open_table(path) as table:
        assert values(all_rows(table)) == [["Иван", "1"]]


def test_xml_tricks_in_a_sheet_stored_under_another_name_are_refused(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    rels = zipfile.ZipFile(source).read("xl/_rels/workbook.xml.rels")
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'
    path = tmp_path / "renamed.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for member in old.infolist():
            if member.filename == "xl/worksheets/sheet2.xml":
                new.writestr("xl/data/part.bin", evil)
            elif member.filename == "xl/_rels/workbook.xml.rels":
                new.writestr(member, rels.replace(b"worksheets/sheet2.xml", b"data/part.bin"))
            else:
                new.writestr(member, old.read(member))

    assert read_error(path).code == "xml_entities"


def test_a_picture_with_its_own_doctype_is_fine(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    path = tmp_path / "picture.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for member in old.infolist():
            new.writestr(member, old.read(member))
        new.writestr(
            "xl/media/image1.svg", b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"><svg/>'
        )

    with open_table(path) as table:
        assert table.info.sheet == "Клиенты"


def test_truncated_xlsx_is_refused(tmp_path: Path) -> None:
    data = make_xlsx(tmp_path / "ok.xlsx").read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        path = write(tmp_path, f"cut{cut}.xlsx", data[:cut])
        assert read_error(path).code == "file_corrupt", cut


def test_damaged_member_is_refused(tmp_path: Path) -> None:
    data = bytearray(make_xlsx(tmp_path / "ok.xlsx").read_bytes())
    # Flip bytes inside the first member's compressed data: CRC or inflate fails.
    for offset in range(60, 200):
        data[offset] ^= 0xFF
    assert read_error(write(tmp_path, "bad.xlsx", bytes(data))).code == "file_corrupt"


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    source = make_xlsx(tmp_path / "ok.xlsx")
    data = bytearray(source.read_bytes())
    # zipfile cannot encrypt: set the "encrypted" flag of every local and central header.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + flag_offset] |= 0x1
            start = data.find(signature, start + 4)
    path = write(tmp_path, "locked.xlsx", bytes(data))

    assert read_error(path).code == "file_encrypted"


def test_xlsb_is_named_as_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsb"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x00\x01")

    assert read_error(path).code == "unknown_format"


# --- cell text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (79161234567.0, "79161234567"),
        (1e11, "100000000000"),
        (1e20, "100000000000000000000"),
        (-3.0, "-3"),
        (0.1, "0.1"),
        (1234.5678, "1234.5678"),
        (1.5e-05, "0.000015"),
        (float("nan"), ""),
        (12, "12"),
        (True, "TRUE"),
        (False, "FALSE"),
        (dt.date(1990, 8, 24), "1990-08-24"),
        (dt.datetime(1990, 8, 24, 0, 0), "1990-08-24 00:00:00"),
        (dt.datetime(2024, 3, 1, 14, 30, 5), "2024-03-01 14:30:05"),
        (dt.time(9, 5), "09:05:00"),
        (dt.timedelta(hours=26, minutes=3), "26:03:00"),
        (None, ""),
        ("  как есть ", "  как есть "),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_no_float_is_ever_written_in_exponent_form(value: float) -> None:
    text = cell_text(value)
    assert "e" not in text.lower()
    assert float(text) == value


def test_biff_fixture_is_what_its_generator_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_xls", DATA / "make_xls.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == (DATA / "customers.xls").read_bytes()
    assert struct.unpack("<H", module.build()[0x1E:0x20]) == (9,)  # 512-byte sectors
