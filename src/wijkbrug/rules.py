"""Domain rules for source records: pure functions that parse a value or say why they cannot.

Each parser returns the normalised value or raises :class:`RuleError` with a reason code from
:mod:`wijkbrug.reasons`. None of them puts the value itself in the error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

_POSTCODE = re.compile(r"^([1-9][0-9]{3})([A-Z]{2})$")
_POSTCODE_FORBIDDEN_LETTERS = {"SA", "SD", "SS"}
_DMY = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UNIT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
_TENANT = re.compile(r"^[0-9A-Za-z-]{1,32}$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()-]+$")


class RuleError(ValueError):
    """A value breaks a domain rule; ``code`` is a quarantine reason code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalise_postcode(value: str) -> str:
    """``'3563 ab'`` -> ``'3563AB'``: four digits (no leading 0) and two letters."""
    compact = re.sub(r"\s+", "", value).upper()
    match = _POSTCODE.match(compact)
    if not match or match.group(2) in _POSTCODE_FORBIDDEN_LETTERS:
        raise RuleError("postcode.format")
    return compact


def parse_date(value: str) -> date:
    """A date written ``d-m-yyyy`` (leading zeros optional) or ``yyyy-mm-dd`` that exists."""
    text = value.strip()
    if match := _YMD.match(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.match(text):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise RuleError("date.invalid")
    try:
        return date(year, month, day)
    except ValueError:
        raise RuleError("date.invalid") from None


def parse_optional_date(value: str | None) -> date | None:
    """Like :func:`parse_date`, but an empty value means no date."""
    if value is None or not value.strip():
        return None
    return parse_date(value)


def not_in_future(value: date, today: date) -> date:
    """A realised date cannot lie after today."""
    if value > today:
        raise RuleError("date.future")
    return value


def bsn_is_valid(value: str) -> bool:
    """The elfproef for a Dutch citizen service number (BSN): 9 digits, weights 9..2 and -1."""
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value, range(9, 1, -1), strict=False))
    total -= int(value[8])
    return total % 11 == 0


def parse_past_date(value: str, today: date) -> date:
    """A date that exists and is not after ``today`` (realised, visited, changed, reported)."""
    return not_in_future(parse_date(value), today)


def parse_partner(value: str, partners: Mapping[str, Any], person_level: bool) -> str:
    """A partner id from the registry; with ``person_level`` one that may receive person data."""
    text = value.strip()
    partner = partners.get(text)
    if partner is None:
        raise RuleError("partner.unknown")
    if person_level and not partner.person_level:
        raise RuleError("partner.aggregates_only")
    return text


def parse_bsn(value: str) -> str:
    """A BSN, zero-padded to 9 digits when an 8-digit one comes in, that passes the elfproef."""
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        text = "0" + text
    if not bsn_is_valid(text):
        raise RuleError("bsn.elfproef")
    return text


def parse_house_number(value: str) -> int:
    """A house number is a positive integer; letters belong in ``toevoeging``."""
    text = value.strip()
    if not text.isdigit() or int(text) < 1:
        raise RuleError("huisnummer.invalid")
    return int(text)


def parse_unit_id(value: str) -> str:
    """A verhuureenheid number: letters, digits, ``.``, ``_``, ``-``; at most 32 characters."""
    text = value.strip()
    if not text:
        raise RuleError("field.missing")
    if not _UNIT.match(text):
        raise RuleError("vhe.format")
    return text


def parse_tenant_number(value: str | None) -> str | None:
    """A huurdernummer, or None for a vacant unit."""
    text = (value or "").strip()
    if not text:
        return None
    if not _TENANT.match(text):
        raise RuleError("field.type")
    return text


def parse_phone(value: str | None) -> str | None:
    """A phone number with 10 to 15 digits; kept as written (spaces and dashes allowed)."""
    text = (value or "").strip()
    if not text:
        return None
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_CHARS.match(text) or not 10 <= digits <= 15:
        raise RuleError("telefoon.format")
    return text


def parse_code(value: str, allowed: tuple[str, ...] | frozenset[str] | dict[str, object]) -> str:
    """A code from a fixed list; compared case-insensitively, returned as listed."""
    text = value.strip().lower()
    if text not in allowed:
        raise RuleError("code.unknown")
    return text


def iso_week(day: date) -> str:
    """``2026-W07``: the ISO year and week a date falls in."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
