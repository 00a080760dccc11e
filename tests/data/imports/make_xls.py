"""Writes customers.xls: a tiny real BIFF8 workbook, built by hand (no XLS writer is a dependency).

Run `python tests/data/imports/make_xls.py` to rebuild it. An OLE2 compound file with one
"Workbook" stream: globals (BOF, XF, BOUNDSHEET, EOF), then one substream per sheet.
"""

from __future__ import annotations

import struct
from pathlib import Path

SECTOR = 512
END_OF_CHAIN, FAT_SECTOR, FREE, NO_STREAM = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF


def record(kind: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def bof(substream: int) -> bytes:
    return record(0x0809, struct.pack("<HHHHII", 0x0600, substream, 0x0DBB, 0x07CC, 0, 0x06))


def xf(format_id: int) -> bytes:
    # 20-byte BIFF8 XF: font 0, number format, cell XF (not a style), the rest default.
    return record(0x00E0, struct.pack("<HHH", 0, format_id, 0x0001) + bytes(14))


def unicode_text(text: str, length_bytes: int) -> bytes:
    encoded = text.encode("utf-16-le")
    length = struct.pack("<B" if length_bytes == 1 else "<H", len(text))
    return length + b"\x01" + encoded


def label(row: int, col: int, text: str) -> bytes:
    return record(0x0204, struct.pack("<HHH", row, col, 0) + unicode_text(text, 2))


def number(row: int, col: int, value: float, xf_index: int = 0) -> bytes:
    return record(0x0203, struct.pack("<HHHd", row, col, xf_index, value))


def boolerr(row: int, col: int, value: int, is_error: bool) -> bytes:
    return record(0x0205, struct.pack("<HHHBB", row, col, 0, value, int(is_error)))


def sheet_stream(cells: list[bytes], rows: int, cols: int) -> bytes:
    dimensions = record(0x0200, struct.pack("<IIHHH", 0, rows, 0, cols, 0))
    return bof(0x0010) + dimensions + b"".join(cells) + record(0x000A)


def workbook_stream(sheets: list[tuple[str, bytes]]) -> bytes:
    # 15 style XFs then the cell XFs the sheets use: 15 = General, 16 = built-in date format 14.
    xfs = b"".join(xf(0) for _ in range(15)) + xf(0) + xf(14)
    sizes = [len(record(0x0085, bytes(6) + unicode_text(name, 1))) for name, _ in sheets]
    offset = len(bof(0x0005)) + len(xfs) + sum(sizes) + len(record(0x000A))
    bound = b""
    for name, stream in sheets:
        bound += record(0x0085, struct.pack("<IBB", offset, 0, 0) + unicode_text(name, 1))
        offset += len(stream)
    return bof(0x0005) + xfs + bound + record(0x000A) + b"".join(s for _, s in sheets)


def directory_entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\0")
        + struct.pack("<HBB", len(encoded), kind, 1)
        + struct.pack("<III", NO_STREAM, NO_STREAM, child if name else NO_STREAM)
        + bytes(16 + 4 + 16)
        + struct.pack("<III", start, size, 0)
    )


def compound_file(stream: bytes) -> bytes:
    # Streams under 4096 bytes would live in the mini stream; padding keeps this one simple.
    stream = stream.ljust(max(4096, -(-len(stream) // SECTOR) * SECTOR), b"\0")
    stream_sectors = len(stream) // SECTOR
    directory_sector, fat_sector = stream_sectors, stream_sectors + 1
    fat = [i + 1 for i in range(stream_sectors - 1)] + [END_OF_CHAIN, END_OF_CHAIN, FAT_SECTOR]
    fat += [FREE] * (SECTOR // 4 - len(fat))
    directory = (
        directory_entry("Root Entry", 5, 1, END_OF_CHAIN, 0)
        + directory_entry("Workbook", 2, NO_STREAM, 0, len(stream))
        + directory_entry("", 0, NO_STREAM, 0, 0) * 2
    )
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack(
            "<IIIIIIIII", 0, 1, directory_sector, 0, 4096, END_OF_CHAIN, 0, END_OF_CHAIN, 0
        )
        + struct.pack("<I", fat_sector)
        + struct.pack("<I", FREE) * 108
    )
    return header + stream + directory + struct.pack(f"<{SECTOR // 4}I", *fat)


def build() -> bytes:
    customers = sheet_stream(
        [
            label(0, 0, "Имя"),
            label(0, 1, "Телефон"),
            label(0, 2, "Дата рождения"),
            label(0, 3, "Сумма"),
            label(0, 4, "Подписка"),
            label(0, 5, "Ошибка"),
            label(1, 0, "Иван"),
            number(1, 1, 79161234567.0),
            number(1, 2, 33109.0, xf_index=16),  # 1990-08-24 as an Excel serial with a date format
            number(1, 3, 12.5),
            boolerr(1, 4, 1, is_error=False),
            boolerr(1, 5, 0x2A, is_error=True),  # #N/A
            label(2, 0, "Мария"),
            number(2, 1, 37360123456.0),
        ],
        rows=3,
        cols=6,
    )
    other = sheet_stream([label(0, 0, "Заказ"), number(1, 0, 1001.0)], rows=2, cols=1)
    return compound_file(workbook_stream([("Клиенты", customers), ("Заказы", other)]))


if __name__ == "__main__":
    Path(__file__).with_name("customers.xls").write_bytes(build())
