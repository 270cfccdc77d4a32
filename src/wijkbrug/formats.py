"""Reading source files into records: delimited text (CSV) and JSON Lines.

Both keep each record's starting line number and raw text, so a quarantined record can be found
in the source and shown to a steward exactly as it was.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

import orjson

from wijkbrug.connector import SourceRecord
from wijkbrug.reasons import Reason


class SourceFormatError(ValueError):
    """The file as a whole cannot be read (encoding, header): nothing from it is published."""


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceFormatError("bestand is UTF-16 (Excel 'Unicode-tekst'); sla op als CSV UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise SourceFormatError("bestand is geen UTF-8 en geen Windows-1252") from None


def _one_newline_style(cell: str) -> str:
    """A line break inside a quoted field reads as ``\\n``, whatever the file's line endings."""
    return cell.replace("\r\n", "\n").replace("\r", "\n") if "\r" in cell else cell


def read_delimited(
    data: bytes, columns: tuple[str, ...], delimiter: str = ";"
) -> Iterator[SourceRecord]:
    """Records of a delimited file whose header names ``columns`` (any order, any case).

    Blank lines, lines with only delimiters, and repeats of the header (exports pasted one after
    another) are skipped. Quoted fields may hold the delimiter, quotes and line breaks. Extra
    columns are ignored; a missing column is fatal.
    """
    lines = io.StringIO(decode_text(data), newline="")
    consumed: list[str] = []
    line_no = 0

    def feed() -> Iterator[str]:
        nonlocal line_no
        for line in lines:
            line_no += 1
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', strict=False)
    header: list[str] | None = None
    while True:
        start = line_no + 1
        consumed.clear()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            yield SourceRecord(start, "".join(consumed), None, Reason("csv.field_count"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        names = [cell.strip().lstrip("\ufeff").lower() for cell in row]
        if header is None:
            header = names
            missing = [c for c in columns if c not in header]
            if len(header) == 1 and delimiter not in header[0]:
                raise SourceFormatError(f"kopregel is niet gescheiden door '{delimiter}'")
            if missing:
                raise SourceFormatError(f"kolommen ontbreken in de kop: {', '.join(missing)}")
            continue
        if names == header:
            continue
        raw = "".join(consumed).rstrip("\r\n")
        if len(row) != len(header):
            yield SourceRecord(start, raw, None, Reason("csv.field_count"))
            continue
        cells = (_one_newline_style(cell) for cell in row)
        yield SourceRecord(start, raw, dict(zip(header, cells, strict=True)))
    if header is None:
        raise SourceFormatError("bestand heeft geen kopregel")


def read_json_lines(data: bytes) -> Iterator[SourceRecord]:
    """One JSON object per line; blank lines skipped; a bad line is a ``json.invalid`` record."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        raw = line.decode("utf-8", errors="replace")
        try:
            fields = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield SourceRecord(number, raw, None, Reason("json.invalid"))
            continue
        if not isinstance(fields, dict):
            yield SourceRecord(number, raw, None, Reason("json.invalid"))
            continue
        yield SourceRecord(number, raw, fields)
