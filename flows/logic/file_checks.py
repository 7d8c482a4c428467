"""Checks on a landing file's bytes, before a parser sees them: parsers fail with messages about their own
internals (`UnicodeDecodeError ... position 1`, `Parquet magic bytes not found`); these name the mistake.
"""

from __future__ import annotations

import codecs

PARQUET_MAGIC = b"PAR1"
_CHUNK = 16 * 1024 * 1024

# Formats people land by mistake, by their leading bytes.
_FOREIGN_FORMATS: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed", "land it uncompressed"),
    (b"PK\x03\x04", "a zip archive (an Excel workbook?)", "export it as CSV"),
    (PARQUET_MAGIC, "a Parquet file", "land it as batch_<N>.parquet"),
)
_WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def csv_bytes_problem(data: bytes) -> str | None:
    """Why these bytes are not a UTF-8 CSV file, or None (a UTF-8 byte order mark is fine)."""
    for magic, what, fix in _FOREIGN_FORMATS:
        if data.startswith(magic):
            return f"is {what}, not a CSV file: {fix}"
    for bom, encoding in _WIDE_BOMS:  # UTF-32 first: its LE mark starts with UTF-16's
        if data.startswith(bom):
            return f"is {encoding} text (it starts with a {encoding} byte order mark): save it as UTF-8"
    return utf8_problem(data)


def utf8_problem(data: bytes) -> str | None:
    """Where `data` stops being UTF-8, or None; decoded in chunks so a big file is not copied whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for offset in range(0, len(data), _CHUNK):
        # The decoder holds back up to 3 bytes of a character split by the previous chunk; positions in
        # its errors count from them.
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[offset : offset + _CHUNK], final=offset + _CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            position = offset - pending + exc.start
            line = data.count(b"\n", 0, position) + 1
            column = position - (data.rfind(b"\n", 0, position) + 1) + 1
            return (
                f"is not UTF-8 text: byte 0x{data[position]:02x} at line {line}, column {column} "
                "(Latin-1 or Windows-1252?): save it as UTF-8"
            )
    return None


def parquet_bytes_problem(data: bytes) -> str | None:
    """Why these bytes are not a whole Parquet file, or None: it starts and ends with PAR1."""
    if not data.startswith(PARQUET_MAGIC):
        return "is not a Parquet file (it does not start with PAR1)"
    if len(data) < 12 or not data.endswith(PARQUET_MAGIC):
        return "is not a complete Parquet file (its PAR1 footer is missing: a truncated upload?)"
    return None
