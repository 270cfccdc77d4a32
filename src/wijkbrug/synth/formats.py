"""Serialising the generated records byte for byte as the source systems export them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from wijkbrug.codes import PLANNING_COLUMNS


def dumps(record: dict[str, Any]) -> str:
    """One JSON Lines record: UTF-8 text as is, no line breaks."""
    return json.dumps(record, ensure_ascii=False)


def _delimited(header: tuple[str, ...], rows: list[list[str]], line_end: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def planning_bytes(rows: list[list[str]]) -> bytes:
    """The corporation's Excel-style export: ``;``-separated, Windows-1252, CRLF."""
    return _delimited(PLANNING_COLUMNS, rows, "\r\n").encode("cp1252")


def consents_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    """The consent registry export: ``;``-separated, UTF-8 without BOM, LF."""
    return _delimited(header, rows, "\n").encode("utf-8")


def jsonl_bytes(lines: list[str]) -> bytes:
    """JSON Lines, UTF-8, LF after every line."""
    return "".join(line + "\n" for line in lines).encode("utf-8")
