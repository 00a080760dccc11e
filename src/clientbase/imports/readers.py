"""Import file readers: CSV, XLSX, XLS and ODS in, string batches out, hostile files refused.

Everything downstream (column recognition, normalisation, the import engine) sees one shape:
polars DataFrames whose columns `c0`..`c{n-1}` hold the cells as text exactly as a person would
type them, `__row` the row number a spreadsheet shows and `__problem` why a row cannot be used.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import charset_normalizer
import polars as pl
import python_calamine
from django.conf import settings
from django.utils.translation import gettext as _

from clientbase.core.errors import DomainError
from clientbase.core.formatting import format_number

logger = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx", "xls", "ods")
DELIMITERS = (",", ";", "\t", "|")

# Enough text to see the header, sniff the delimiter and guess the encoding of any real file.
SAMPLE_BYTES = 1024 * 1024
READ_CHUNK = 4 * 1024 * 1024
CSV_CHUNK_BYTES = 2 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 10_000
# Small members compress well whatever they hold; the ratio only means "bomb" past this size.
RATIO_CHECK_FROM_BYTES = 1024 * 1024
# Share of control characters above which decoded "text" is really binary junk.
MAX_CONTROL_SHARE = 0.01

# Encodings charset-normalizer can tell apart reliably on shop files (Russian, Romanian,
# English); anything else it proposes for a file is more likely junk than a real table.
# In order of preference when it finds several equally good.
TRUSTED_ENCODINGS = (
    "cp1251",
    "koi8-r",
    "cp1252",
    "cp1250",
    "cp866",
    "mac_cyrillic",
    "iso8859_5",
    "iso8859_2",
    "iso8859_16",
    "latin_1",
)

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# Formats people upload by mistake, refused by name before any guessing. Only signatures no
# CSV can start with: others (EXE, BMP, GIF...) hold NUL bytes and are refused as junk anyway.
_BINARY_MAGICS = (
    b"%PDF-",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf",
    b"Rar!\x1a",
    b"\x7fELF",
)
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECLARATIONS = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)


class ReadError(DomainError):
    """The file cannot be read as a table; `message` tells the user what is wrong with it."""

    code = "read_error"


def _default_max_bytes() -> int:
    return int(settings.IMPORT_MAX_FILE_MB) * 1024 * 1024


@dataclass
class ReadLimits:
    max_bytes: int = field(default_factory=_default_max_bytes)
    max_columns: int = 200
    max_cell_chars: int = 10_000
    max_unzipped_bytes: int = 2 * 1024**3
    max_zip_ratio: int = 200  # uncompressed/compressed per archive member
    # Rows x columns of a sheet up to its last value: what calamine allocates (~32 bytes each).
    max_sheet_cells: int = 20_000_000


@dataclass
class TableInfo:
    file_format: str  # "csv" | "xlsx" | "xls" | "ods"
    encoding: str  # CSV: "utf-8", "utf-8-sig", "cp1251", "utf-16", ...; "" for spreadsheets
    delimiter: str  # CSV: one of , ; \t |; "" for spreadsheets
    sheet: str  # chosen sheet name; "" for CSV
    sheets: list[str]  # all sheet names; [] for CSV
    headers: list[str]  # header texts, stripped; a blank header stays ""


class Table:
    """One table of a file: the header row and the data rows below it, read in batches."""

    info: TableInfo

    def __init__(self, info: TableInfo, limits: ReadLimits, header_row: int):
        self.info = info
        self.limits = limits
        # Rows above and at the header are never data, whatever start_row says.
        self._header_row = header_row

    def batches(self, size: int = 50_000, start_row: int = 2) -> Iterator[pl.DataFrame]:
        """Data rows from `start_row` on, `size` at a time; blank rows are left out."""
        raise NotImplementedError

    def sample(self, n: int = 20) -> pl.DataFrame:
        """The first `n` data rows, for previews and recognition by content."""
        for batch in self.batches(size=max(n, 1)):
            if batch.height >= n:
                return batch.head(n)
            return batch
        return self._empty_frame()

    def count_rows(self) -> int:
        """How many rows `batches()` yields: data rows below the header that are not blank."""
        return sum(batch.height for batch in self.batches())

    def close(self) -> None:
        pass

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _empty_frame(self) -> pl.DataFrame:
        schema: dict[str, Any] = {f"c{i}": pl.String for i in range(len(self.info.headers))}
        schema["__row"] = pl.Int64
        schema["__problem"] = pl.String
        return pl.DataFrame(schema=schema)

    def _finish(self, frame: pl.LazyFrame, start_row: int) -> pl.LazyFrame:
        """From c0.., __row and __extra (values right of the header) to the public shape."""
        n = len(self.info.headers)
        cells = [pl.col(f"c{i}") for i in range(n)]
        blank = ~pl.col("__extra")
        if cells:
            blank = blank & pl.all_horizontal([c.str.len_bytes() == 0 for c in cells])
        too_long = (
            pl.any_horizontal([c.str.len_chars() > self.limits.max_cell_chars for c in cells])
            if cells
            else pl.lit(False)
        )
        problem = (
            pl.when(pl.col("__extra"))
            .then(pl.lit(_("The row has more values than the header has columns.")))
            .when(too_long)
            .then(
                pl.lit(
                    _("A cell is longer than %(limit)s characters.")
                    % {"limit": format_number(self.limits.max_cell_chars)}
                )
            )
            .otherwise(pl.lit(None, dtype=pl.String))
        )
        first = max(start_row, self._header_row + 1)
        return (
            frame.filter(pl.col("__row") >= first)
            .filter(~blank)
            .select(
                *cells,
                pl.col("__row").cast(pl.Int64),
                problem.alias("__problem"),
            )
        )


def open_table(path: Path, *, sheet: str | None = None, limits: ReadLimits | None = None) -> Table:
    """Open a file as a table, by its content (not its name), or raise ReadError."""
    limits = limits or ReadLimits()
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ReadError(_("The file cannot be opened."), code="file_unreadable") from exc
    if size == 0:
        raise ReadError(_("The file is empty."), code="file_empty")
    if size > limits.max_bytes:
        raise ReadError(
            _("The file is %(size)s MB; files up to %(limit)s MB can be imported.")
            % {"size": _megabytes(size), "limit": _megabytes(limits.max_bytes)},
            code="file_too_big",
        )
    if head.startswith(_ZIP_MAGICS):
        file_format = _check_archive(path, limits)
        try:
            _probe_spreadsheet(path, sheet, limits)
        except ReadError as error:
            if error.code == "file_corrupt":
                # Most likely values far apart: say so when the sheets show it.
                _check_sheet_extents(path, file_format, limits)
            raise
        return _open_spreadsheet(path, file_format, sheet, limits)
    if head.startswith(_OLE2_MAGIC):
        _probe_spreadsheet(path, sheet, limits)
        return _open_spreadsheet(path, "xls", sheet, limits)
    if head.startswith(_BINARY_MAGICS):
        raise _not_a_table()
    return _CsvTable.open(path, size, limits)


def _megabytes(size: int) -> str:
    return format_number(round(size / 1024 / 1024, 1))


def _not_a_table() -> ReadError:
    return ReadError(
        _("The file is not a table: expected CSV, XLSX, XLS or ODS."), code="file_not_table"
    )


def _encrypted() -> ReadError:
    return ReadError(
        _("The file is protected by a password; remove the password and retry."),
        code="file_encrypted",
    )


def _corrupt() -> ReadError:
    return ReadError(
        _("The file is damaged or incomplete; save it again and retry."), code="file_corrupt"
    )


# --- CSV ------------------------------------------------------------------------------------


class _CsvTable(Table):
    def __init__(
        self,
        info: TableInfo,
        limits: ReadLimits,
        header_row: int,
        utf8_path: Path,
        raw_width: int,
        temporary: Path | None,
    ):
        super().__init__(info, limits, header_row)
        self._utf8_path = utf8_path
        self._raw_width = raw_width
        self._temporary = temporary
        # The transcoded copy goes with the table even when a caller forgets close().
        self._remove_copy = weakref.finalize(self, _remove, temporary)

    @classmethod
    def open(cls, path: Path, size: int, limits: ReadLimits) -> _CsvTable:
        with path.open("rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
        encoding = _detect_encoding(path, sample, size)
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
        if encoding.startswith("utf-16"):
            text = text.removeprefix("\ufeff")
        if len(_CONTROL.findall(text)) > max(1, len(text) * MAX_CONTROL_SHARE):
            raise _not_a_table()
        if not text.strip():
            raise ReadError(_("The file is empty."), code="file_empty")
        text = text.removeprefix("\ufeff")
        # Old Mac files end lines with a lone CR, which polars does not take for a line end.
        cr_only = "\r" in text and "\n" not in text
        if cr_only:
            text = text.replace("\r", "\n")
        # The last line of the sample may be cut in the middle; it never decides anything.
        complete = text if size <= len(sample) else text[: max(text.rfind("\n"), 0)]
        delimiter = _sniff_delimiter(complete or text)
        header_row, raw_header = _first_record(complete or text, delimiter, limits)
        headers = _trim_headers(raw_header)
        if not headers:
            raise ReadError(_("The file is empty."), code="file_empty")
        _check_width(len(headers), limits)
        if len(raw_header) > 2 * limits.max_columns:
            _check_width(len(raw_header), limits)

        temporary = None
        utf8_path = path
        if encoding not in ("utf-8", "utf-8-sig") or cr_only:
            temporary = _transcode(path, encoding, cr_only=cr_only)
            utf8_path = temporary
        info = TableInfo(
            file_format="csv",
            encoding=encoding,
            delimiter=delimiter,
            sheet="",
            sheets=[],
            headers=headers,
        )
        return cls(info, limits, header_row, utf8_path, len(raw_header), temporary)

    def _frame(self) -> pl.LazyFrame:
        n = len(self.info.headers)
        # One more column than the header row has: a value there means a ragged row.
        width = max(self._raw_width, n) + 1
        # polars reads a CSV in chunks and prefetches several; its default chunks add up to
        # ~250 MB in flight, 2 MB chunks keep it under 100 MB and are as fast. Read per scan.
        os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(CSV_CHUNK_BYTES))
        frame = pl.scan_csv(
            self._utf8_path,
            has_header=False,
            separator=self.info.delimiter,
            quote_char='"',
            schema={f"c{i}": pl.String for i in range(width)},
            missing_columns="insert",
            truncate_ragged_lines=True,
            empty_string_is_null=False,
            encoding="utf8-lossy",
            row_index_name="__row",
            row_index_offset=1,
        )
        extra = pl.any_horizontal([pl.col(f"c{i}").fill_null("") != "" for i in range(n, width)])
        return frame.with_columns(
            *[pl.col(f"c{i}").fill_null("") for i in range(n)],
            extra.alias("__extra"),
        )

    def batches(self, size: int = 50_000, start_row: int = 2) -> Iterator[pl.DataFrame]:
        frame = self._finish(self._frame(), start_row)
        try:
            for batch in frame.collect_batches(chunk_size=size):
                if batch.height:
                    yield batch
        except pl.exceptions.PolarsError as exc:
            raise ReadError(
                _("The file cannot be read as CSV: %(reason)s") % {"reason": _short(exc)},
                code="file_not_table",
            ) from exc

    def count_rows(self) -> int:
        frame = self._finish(self._frame(), 2).select(pl.len())
        try:
            return int(frame.collect(engine="streaming").item())
        except pl.exceptions.PolarsError as exc:
            raise ReadError(
                _("The file cannot be read as CSV: %(reason)s") % {"reason": _short(exc)},
                code="file_not_table",
            ) from exc

    def close(self) -> None:
        self._remove_copy()
        self._temporary = None


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _detect_encoding(path: Path, sample: bytes, size: int) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    if b"\x00" in sample:
        raise _not_a_table()
    window = sample
    if sample.isascii() and size > len(sample):
        # A long ASCII start says nothing: the first non-ASCII bytes decide the encoding.
        window = _first_non_ascii_window(path)
    if window.isascii():
        return "utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(window, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    encoding = _guess_legacy_encoding(window)
    if not encoding:
        raise ReadError(
            _(
                "The text encoding of the file cannot be recognised; "
                "save it as CSV in UTF-8 and retry."
            ),
            code="encoding_unknown",
        )
    return encoding


def _guess_legacy_encoding(window: bytes) -> str:
    """charset-normalizer's best guess among TRUSTED_ENCODINGS; "" when it has none."""
    trusted = [codecs.lookup(e).name for e in TRUSTED_ENCODINGS]
    # Only trusted encodings compete: on a few lines of Russian, an encoding no shop uses
    # (cp1255, Hebrew) can score a little better than cp1251 and must not shut it out.
    results = [
        r
        for r in charset_normalizer.from_bytes(window)
        if codecs.lookup(r.encoding).name in trusted
    ]
    if not results:
        return ""
    best = results[0]
    # Equally good guesses (cp1250 and cp1252 on Western text) go to the more common one.
    tied = [
        codecs.lookup(r.encoding).name
        for r in results
        if r.chaos <= best.chaos and r.coherence >= best.coherence
    ]
    candidates = [e for e in trusted if e in tied]
    return candidates[0] if candidates else ""


def _utf16_without_bom(sample: bytes) -> str:
    """UTF-16 text in Latin or Cyrillic has a NUL or 0x04 in every other byte."""
    probe = sample[:4096]
    probe = probe[: len(probe) - len(probe) % 2]
    if len(probe) < 4:
        return ""
    even, odd = probe[0::2], probe[1::2]
    half = len(probe) // 2
    if odd.count(0) > 0.3 * half and even.count(0) < 0.05 * half:
        return "utf-16-le"
    if even.count(0) > 0.3 * half and odd.count(0) < 0.05 * half:
        return "utf-16-be"
    return ""


def _first_non_ascii_window(path: Path) -> bytes:
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            first = _NON_ASCII.search(chunk)
            if first:
                start = first.start()
                # Back to the start of the line, so the window begins on a character.
                start = chunk.rfind(b"\n", 0, start) + 1
                return chunk[start : start + SAMPLE_BYTES]
    return b""


def _transcode(path: Path, encoding: str, *, cr_only: bool) -> Path:
    """polars reads UTF-8 only: copy the file as UTF-8, in chunks, to a temporary file."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    handle, name = tempfile.mkstemp(prefix="clientbase-import-", suffix=".csv")
    target = Path(name)

    def utf8(text: str) -> bytes:
        return (text.replace("\r", "\n") if cr_only else text).encode("utf-8")

    try:
        with path.open("rb") as source, os.fdopen(handle, "wb") as out:
            while chunk := source.read(READ_CHUNK):
                out.write(utf8(decoder.decode(chunk)))
            out.write(utf8(decoder.decode(b"", final=True)))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _records(text: str, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first records into the same number (> 1) of columns."""
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        counts: list[int] = []
        try:
            for record in _records(text, delimiter):
                if record:
                    counts.append(len(record))
                if len(counts) >= 100:
                    break
        except csv.Error:
            continue
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        # The header decides between equally consistent candidates: it is the best-kept row.
        score = (counts.count(mode) / len(counts) + (0.5 if counts[0] == mode else 0), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _first_record(text: str, delimiter: str, limits: ReadLimits) -> tuple[int, list[str]]:
    """The first non-blank record and its record number (polars counts records the same)."""
    try:
        for number, record in enumerate(_records(text, delimiter), start=1):
            if any(cell.strip() for cell in record):
                if any(len(cell) > limits.max_cell_chars for cell in record):
                    break
                return number, record
        else:
            return 1, []
    except csv.Error:
        pass
    raise ReadError(
        _("The first row (the header) is too long or has a quote that is never closed."),
        code="file_not_table",
    )


def _trim_headers(raw: Sequence[str]) -> list[str]:
    headers = [cell.strip() for cell in raw]
    while headers and not headers[-1]:
        headers.pop()
    return headers


def _check_width(width: int, limits: ReadLimits) -> None:
    if width > limits.max_columns:
        raise ReadError(
            _("The header has %(count)s columns; at most %(limit)s can be imported.")
            % {"count": format_number(width), "limit": format_number(limits.max_columns)},
            code="too_many_columns",
        )


# --- archives -------------------------------------------------------------------------------


def _check_archive(path: Path, limits: ReadLimits) -> str:
    """Refuse zip tricks before calamine unpacks anything; return "xlsx" or "ods"."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise ReadError(
                    _("The archive holds %(count)s files, far more than any spreadsheet.")
                    % {"count": format_number(len(members))},
                    code="zip_bomb",
                )
            file_format = _archive_format(archive)
            if sum(m.file_size for m in members) > limits.max_unzipped_bytes:
                raise _bomb()
            for member in members:
                if member.flag_bits & 0x1:
                    raise _encrypted()
                _check_ratio(member.file_size, member.compress_size, limits)
            # Every member, whatever its name: calamine finds sheets through the relations,
            # so a sheet may live in any file. Pictures are only unpacked and measured.
            for member in members:
                _check_member(archive, member, file_format, limits)
            return file_format
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        # OSError: offsets in a damaged directory that point before the start of the file.
        raise _corrupt() from exc
    except NotImplementedError as exc:  # compression methods calamine cannot read either
        raise _corrupt() from exc


_PICTURE_FOLDERS = ("xl/media/", "pictures/", "thumbnails/")
_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".emf", ".wmf", ".svg", ".tif")


def _bomb() -> ReadError:
    return ReadError(
        _("The file unpacks to far more data than it holds (a zip bomb); it is refused."),
        code="zip_bomb",
    )


def _check_ratio(unpacked: int, packed: int, limits: ReadLimits) -> None:
    if unpacked > RATIO_CHECK_FROM_BYTES and unpacked > limits.max_zip_ratio * max(packed, 1):
        raise _bomb()


def _archive_format(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "mimetype" in names:
        mimetype = _read_small(archive, "mimetype")
        if mimetype.strip().startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
            return "ods"
    if "[Content_Types].xml" in names:
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "xl/workbook.bin" in names:
            raise ReadError(
                _("Binary Excel workbooks (XLSB) are not supported; save the file as XLSX."),
                code="unknown_format",
            )
    raise _not_a_table()


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as fh:
        return fh.read(256)


def _check_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, file_format: str, limits: ReadLimits
) -> None:
    """Unpack for real (declared sizes can lie) and refuse DOCTYPE/ENTITY declarations."""
    name = member.filename.lower()
    # An SVG picture may have a DOCTYPE of its own; calamine never parses pictures.
    is_picture = name.startswith(_PICTURE_FOLDERS) or name.endswith(_PICTURE_SUFFIXES)
    _scan_member(archive, member, None, limits, xml=not is_picture)


def _check_sheet_extents(path: Path, file_format: str, limits: ReadLimits) -> None:
    """Raise sheet_too_big when a sheet's values span more than max_sheet_cells."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            name = member.filename.lower()
            if name.startswith(_PICTURE_FOLDERS) or name.endswith(_PICTURE_SUFFIXES):
                continue
            extent: _SheetExtent
            if file_format == "xlsx":
                extent = _XlsxExtent(precise=False)
            elif name == "content.xml":
                extent = _OdsExtent()
            else:
                continue
            _scan_member(archive, member, extent, limits)
            if extent.cells() > limits.max_sheet_cells and isinstance(extent, _XlsxExtent):
                # The quick count includes blank styled cells, which calamine skips.
                extent = _XlsxExtent(precise=True)
                _scan_member(archive, member, extent, limits)
            if extent.cells() > limits.max_sheet_cells:
                raise _sheet_too_big(extent.cells())


def _sheet_too_big(cells: int) -> ReadError:
    return ReadError(
        _(
            "A sheet spans %(cells)s cells (values far apart, e.g. in the last row or "
            "column); delete the stray cells or save the sheet as CSV."
        )
        % {"cells": format_number(cells)},
        code="sheet_too_big",
    )


def _scan_member(
    archive: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    extent: _SheetExtent | None,
    limits: ReadLimits,
    *,
    xml: bool = True,
) -> None:
    unpacked = 0
    tail = b""
    decoder: codecs.IncrementalDecoder | None = None
    with archive.open(member) as fh:
        while chunk := fh.read(READ_CHUNK):
            unpacked += len(chunk)
            _check_ratio(unpacked, member.compress_size, limits)
            if unpacked > limits.max_unzipped_bytes:
                raise _bomb()
            if not xml:
                continue
            if decoder is None and unpacked == len(chunk):
                if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
                elif chunk.startswith((b"<\x00", b"\x00<")):
                    encoding = "utf-16-le" if chunk[0] else "utf-16-be"
                    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            if decoder is not None:
                # Looked at as UTF-8, so one set of byte patterns serves every encoding.
                chunk = decoder.decode(chunk).encode("utf-8")
            data = tail + chunk
            # Cut before the last "<" so that no tag is ever split between two pieces.
            cut = data.rfind(b"<")
            if cut <= 0:
                cut = len(data)
            data, tail = data[:cut], data[cut:]
            _inspect_xml(data, extent)
    if xml:
        _inspect_xml(tail, extent)


def _inspect_xml(data: bytes, extent: _SheetExtent | None) -> None:
    if _XML_DECLARATIONS.search(data):
        raise ReadError(
            _(
                "The file contains XML declarations (DOCTYPE or ENTITY) that "
                "spreadsheets never need; it is refused as unsafe."
            ),
            code="xml_entities",
        )
    if extent is not None:
        extent.feed(data)


class _SheetExtent:
    """The area calamine will allocate for a sheet: rows times columns up to the last value.

    calamine allocates that rectangle at once, so two values in A1 and XFD1048576 of a 5 KB
    file ask for 500 GB and abort the process. The capped probe takes that blow; this
    measure, from the XML, then tells the user why the file was refused.
    """

    def feed(self, data: bytes) -> None:
        raise NotImplementedError

    def cells(self) -> int:
        raise NotImplementedError


# Quick patterns: any cell reference (" r=" with letters is only ever a cell's).
_XLSX_QUICK_ROWS = re.compile(rb' r="[A-Z]{1,3}([0-9]{1,9})"')
_XLSX_QUICK_COLUMNS = {n: re.compile(rb' r="([A-Z]{%d})[0-9]' % n) for n in (3, 2, 1)}
# Precise patterns: cells with content only (calamine skips self-closing, style-only cells).
_XLSX_ROWS = re.compile(rb"<c\b[^>]*?\sr=\"[A-Z]{1,3}([0-9]{1,9})\"[^>]*(?<!/)>")
_XLSX_COLUMNS = {
    n: re.compile(rb"<c\b[^>]*?\sr=\"([A-Z]{%d})[0-9][^>]*(?<!/)>" % n) for n in (3, 2, 1)
}
_XLSX_CELL_WITHOUT_REF = re.compile(rb"<c(?:>|\s[^>r]*(?:r(?!=)[^>r]*)*>)")
_XLSX_TAG = re.compile(rb"<(row|c)\b([^>]*?)(/?)>")
_XML_ATTRIBUTE_R = re.compile(rb'\sr="([A-Z]{0,3})([0-9]{0,9})"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


class _XlsxExtent(_SheetExtent):
    """From cell references, by pattern searches that run in C; a tag walk only for cells
    without a reference (they follow the previous cell).

    The quick look over-estimates: blank styled cells count, and columns A..Z count as 26
    (finding the last one would take a pass per chunk). The precise look runs only when the
    quick one is over the limit.
    """

    def __init__(self, *, precise: bool) -> None:
        self.precise = precise
        self.row_refs = _XLSX_ROWS if precise else _XLSX_QUICK_ROWS
        self.column_refs = _XLSX_COLUMNS if precise else _XLSX_QUICK_COLUMNS
        self.rows = 0
        self.columns = 0
        self.walk_row = 0
        self.walk_column = 0

    def feed(self, data: bytes) -> None:
        rows = self.row_refs.findall(data)
        if rows:
            self.rows = max(self.rows, max(map(int, rows)))
            if not self.precise:
                self.columns = max(self.columns, 26)
        for letters in (3, 2, 1) if self.precise else (3, 2):
            if _column_number(b"Z" * letters) <= self.columns:
                break
            references: list[bytes] = self.column_refs[letters].findall(data)
            if references:
                self.columns = max(self.columns, _column_number(max(references)))
                break
        if _XLSX_CELL_WITHOUT_REF.search(data):
            self._walk(data)

    def _walk(self, data: bytes) -> None:
        for match in _XLSX_TAG.finditer(data):
            kind, attributes, closed = match.groups()
            reference = _XML_ATTRIBUTE_R.search(attributes)
            if kind == b"row":
                self.walk_row = int(reference.group(2) or 0) if reference else self.walk_row + 1
                self.walk_column = 0
                continue
            if reference and reference.group(1):
                self.walk_column = _column_number(reference.group(1))
            else:
                self.walk_column += 1
            if not closed:
                self.rows = max(self.rows, self.walk_row)
                self.columns = max(self.columns, self.walk_column)

    def cells(self) -> int:
        return self.rows * self.columns


_ODS_TAG = re.compile(
    rb"<(/?)table:(table-row|table-cell|covered-table-cell|table)(?![\w-])([^>]*?)(/?)>"
)
_ODS_REPEAT = re.compile(rb'number-(?:rows|columns)-repeated="([0-9]{1,10})"')


class _OdsExtent(_SheetExtent):
    """From repeated rows and cells: ODS packs a million equal cells in one tag."""

    def __init__(self) -> None:
        self.largest = 0
        self.row = self.column = 0
        self.rows = self.columns = 0
        self.repeat_rows = 1
        self.row_has_value = False

    def feed(self, data: bytes) -> None:
        for match in _ODS_TAG.finditer(data):
            closing, kind, attributes, self_closing = match.groups()
            repeat = _ODS_REPEAT.search(attributes)
            count = int(repeat.group(1)) if repeat else 1
            if kind == b"table":
                self._end_sheet()
            elif kind == b"table-row" and not closing:
                self.repeat_rows, self.column, self.row_has_value = count, 0, False
                if self_closing:
                    self.row += count
            elif kind == b"table-row":
                if self.row_has_value:
                    self.rows = max(self.rows, self.row + self.repeat_rows)
                self.row += self.repeat_rows
            elif not closing:
                if not self_closing or b"value-type" in attributes:
                    self.columns = max(self.columns, self.column + count)
                    self.row_has_value = True
                self.column += count

    def _end_sheet(self) -> None:
        self.largest = max(self.largest, self.rows * self.columns)
        self.row = self.column = self.rows = self.columns = 0

    def cells(self) -> int:
        self._end_sheet()
        return self.largest


# calamine trusts sizes written in the file: a damaged 5 KB XLS, or an XLSX whose shared
# strings claim four billion entries, asks for hundreds of GB and aborts the whole process (no
# exception to catch). So a workbook is first opened, with the sheet the import will read, in
# a child process whose address space is capped; only a file that survives there is opened
# here. When it fails, the sheet extents measured from the XML say whether values far apart
# were the reason (sheet_too_big) rather than damage.
_SPREADSHEET_PROBE = """
import json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import python_calamine
workbook = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
wanted = sys.argv[3]
names = [wanted] if wanted in workbook.sheet_names else [] if wanted else workbook.sheet_names
sizes = []
for name in names:
    sheet = workbook.get_sheet_by_name(name)
    sizes.append(sheet.height * sheet.width)
    if any(str(value).strip() for row in sheet.iter_rows() for value in row):
        break
print(json.dumps(sizes))
"""
PROBE_BASE_BYTES = 1024**3
PROBE_BYTES_PER_CELL = 64  # calamine's cell (32 bytes) and a short string
PROBE_SECONDS = 300


def _probe_spreadsheet(path: Path, sheet: str | None, limits: ReadLimits) -> None:
    address_space = PROBE_BASE_BYTES + PROBE_BYTES_PER_CELL * limits.max_sheet_cells
    command = [sys.executable, "-I", "-c", _SPREADSHEET_PROBE, str(path), str(address_space)]
    try:
        probe = subprocess.run(  # noqa: S603  (our own interpreter, a fixed script, a path)
            [*command, sheet or ""],
            capture_output=True,
            timeout=PROBE_SECONDS,
            env={**os.environ, "RUST_BACKTRACE": "0"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _corrupt() from exc
    if probe.returncode != 0:
        # A password-protected workbook fails here too; say so rather than "damaged".
        if b"PasswordError" in probe.stderr:
            raise _encrypted()
        logger.info("spreadsheet probe refused a file (exit code %s)", probe.returncode)
        raise _corrupt()
    largest = max(json.loads(probe.stdout or b"[0]") or [0])
    if largest > limits.max_sheet_cells:
        raise _sheet_too_big(largest)


# --- spreadsheets ---------------------------------------------------------------------------


@contextmanager
def _calamine_failures() -> Iterator[None]:
    """calamine's errors on a damaged file as ReadError, never a raw exception."""
    try:
        yield
    except ReadError:
        raise
    except python_calamine.PasswordError as exc:
        raise _encrypted() from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise _corrupt() from exc
    except BaseException as exc:
        # calamine panics on some damaged files (a Rust assertion); pyo3 raises that as
        # PanicException, a BaseException that cannot be imported by name.
        if type(exc).__name__ == "PanicException":
            raise _corrupt() from exc
        raise


def _open_spreadsheet(
    path: Path, file_format: str, sheet: str | None, limits: ReadLimits
) -> _SheetTable:
    with _calamine_failures():
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        with _calamine_failures():
            return _SheetTable.open(workbook, file_format, sheet, limits)
    except BaseException:
        workbook.close()
        raise


class _SheetTable(Table):
    def __init__(
        self,
        info: TableInfo,
        limits: ReadLimits,
        header_row: int,
        workbook: python_calamine.CalamineWorkbook,
        sheet: python_calamine.CalamineSheet,
    ):
        super().__init__(info, limits, header_row)
        self._workbook = workbook
        self._sheet = sheet

    @classmethod
    def open(
        cls,
        workbook: python_calamine.CalamineWorkbook,
        file_format: str,
        sheet_name: str | None,
        limits: ReadLimits,
    ) -> _SheetTable:
        names = list(workbook.sheet_names)
        if sheet_name is not None:
            if sheet_name not in names:
                raise ReadError(
                    _("There is no sheet “%(sheet)s” in the file; its sheets: %(sheets)s.")
                    % {"sheet": sheet_name, "sheets": ", ".join(names)},
                    code="sheet_not_found",
                )
            candidates = [sheet_name]
        else:
            candidates = names
        for name in candidates:
            sheet = workbook.get_sheet_by_name(name)
            found = _sheet_header(sheet)
            if found is None:
                continue
            header_row, raw_header = found
            headers = _trim_headers(raw_header)
            _check_width(len(headers), limits)
            info = TableInfo(
                file_format=file_format,
                encoding="",
                delimiter="",
                sheet=name,
                sheets=names,
                headers=headers,
            )
            return cls(info, limits, header_row, workbook, sheet)
        if sheet_name is not None:
            raise ReadError(
                _("The sheet “%(sheet)s” is empty.") % {"sheet": sheet_name}, code="file_empty"
            )
        raise ReadError(_("The file is empty."), code="file_empty")

    def _rows(self, first: int) -> Iterator[tuple[int, list[str]]]:
        """(spreadsheet row number, cells as text from column A) for rows from `first` on."""
        start = self._sheet.start
        if start is None:
            return
        first_row, first_column = start
        padding = [""] * first_column
        for number, row in enumerate(self._sheet.iter_rows(), start=first_row + 1):
            if number >= first:
                yield number, padding + [cell_text(value) for value in row]

    def batches(self, size: int = 50_000, start_row: int = 2) -> Iterator[pl.DataFrame]:
        first = max(start_row, self._header_row + 1)
        chunk: list[tuple[int, list[str]]] = []
        with _calamine_failures():
            for number, cells in self._rows(first):
                chunk.append((number, cells))
                if len(chunk) >= size:
                    batch = self._batch(chunk, first)
                    chunk = []
                    if batch.height:
                        yield batch
        if chunk:
            batch = self._batch(chunk, first)
            if batch.height:
                yield batch

    def count_rows(self) -> int:
        # Like batches() without building frames: a row counts once one cell has text.
        start = self._sheet.start
        if start is None:
            return 0
        count = 0
        with _calamine_failures():
            for number, row in enumerate(self._sheet.iter_rows(), start=start[0] + 1):
                if number > self._header_row and any(
                    value != "" and cell_text(value) != "" for value in row
                ):
                    count += 1
        return count

    def _batch(self, chunk: Sequence[tuple[int, list[str]]], first: int) -> pl.DataFrame:
        n = len(self.info.headers)
        columns: dict[str, Any] = {
            f"c{i}": [cells[i] if i < len(cells) else "" for _number, cells in chunk]
            for i in range(n)
        }
        columns["__row"] = [number for number, _cells in chunk]
        columns["__extra"] = [any(cells[n:]) for _number, cells in chunk]
        schema: dict[str, Any] = {f"c{i}": pl.String for i in range(n)}
        schema["__row"] = pl.Int64
        schema["__extra"] = pl.Boolean
        frame = pl.DataFrame(columns, schema=schema)
        return self._finish(frame.lazy(), first).collect()

    def close(self) -> None:
        self._workbook.close()


def _sheet_header(sheet: python_calamine.CalamineSheet) -> tuple[int, list[str]] | None:
    start = sheet.start
    if start is None:
        return None
    first_row, first_column = start
    for offset, row in enumerate(sheet.iter_rows()):
        cells = [cell_text(value) for value in row]
        if any(cell.strip() for cell in cells):
            return first_row + offset + 1, [""] * first_column + cells
    return None


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a person would have typed into it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    if value is None:
        return ""
    return str(value)


def _float_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    if value.is_integer():
        # Phones and ids stored as numbers: 79161234567.0 is "79161234567", never 7.9e+10.
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        return format(Decimal(text), "f")
    return text


def _duration_text(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
