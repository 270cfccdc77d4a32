from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wijkbrug.rules import (
    RuleError,
    bsn_is_valid,
    iso_week,
    normalise_postcode,
    parse_bsn,
    parse_date,
    parse_house_number,
    parse_phone,
)


def _elfproef_complete(first8: str) -> str | None:
    """The ninth digit that makes ``first8`` a valid BSN, if there is one."""
    total = sum(int(d) * w for d, w in zip(first8, range(9, 1, -1), strict=True))
    last = total % 11
    return None if last == 10 else first8 + str(last)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3563 ab", "3563AB"),
        ("3563AB", "3563AB"),
        (" 3561  xz ", "3561XZ"),
        ("3564\tcd", "3564CD"),
    ],
)
def test_postcodes_are_normalised(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("raw", ["356 AB", "0563AB", "3563SA", "3563 SS", "ABCD12", "35631AB", ""])
def test_bad_postcodes_are_refused(raw: str) -> None:
    with pytest.raises(RuleError) as error:
        normalise_postcode(raw)
    assert error.value.code == "postcode.format"


@given(
    st.integers(1000, 9999),
    st.sampled_from("ABCDEFGHJKLMNPRTUVWXYZ"),
    st.sampled_from("ABCEFGHJKLMNPRTUVWXYZ"),
    st.sampled_from(["", " ", "  "]),
    st.booleans(),
)
def test_every_written_form_of_a_postcode_normalises_to_one(
    digits: int, first: str, second: str, gap: str, lower: bool
) -> None:
    letters = first + second
    written = f"{digits}{gap}{letters.lower() if lower else letters}"
    assert normalise_postcode(written) == f"{digits}{letters}"


@given(st.dates(date(1900, 1, 1), date(2100, 12, 31)), st.booleans())
def test_both_date_formats_parse_to_the_same_day(day: date, zeros: bool) -> None:
    dmy = (
        f"{day.day:02d}-{day.month:02d}-{day.year}"
        if zeros
        else f"{day.day}-{day.month}-{day.year}"
    )
    assert parse_date(dmy) == day
    assert parse_date(day.isoformat()) == day


@pytest.mark.parametrize(
    "raw",
    ["31-2-2026", "2026-02-30", "29-2-2025", "1/3/2026", "2026-3-1", "13-13-2026", "gisteren", ""],
)
def test_impossible_or_unknown_dates_are_refused(raw: str) -> None:
    with pytest.raises(RuleError) as error:
        parse_date(raw)
    assert error.value.code == "date.invalid"


def test_leap_day_exists_in_leap_years_only() -> None:
    assert parse_date("29-2-2028") == date(2028, 2, 29)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_elfproef_accepts_exactly_the_numbers_it_should(first8: str) -> None:
    complete = _elfproef_complete(first8)
    if complete is None or complete == "000000000":
        return
    assert bsn_is_valid(complete)
    wrong_last = complete[:8] + str((int(complete[8]) + 1) % 10)
    assert not bsn_is_valid(wrong_last)


def test_bsn_examples() -> None:
    assert parse_bsn("111222333") == "111222333"
    assert parse_bsn("12345672") == "012345672"  # eight digits: a leading zero was dropped
    for bad in ("123456789", "000000000", "11122233", "1112223334", "11122233x"):
        with pytest.raises(RuleError):
            parse_bsn(bad)


def test_error_never_quotes_the_value() -> None:
    with pytest.raises(RuleError) as error:
        parse_bsn("123456789")
    assert "123456789" not in str(error.value)


@pytest.mark.parametrize(
    "raw, ok", [("12", True), ("1", True), ("0", False), ("12a", False), ("-3", False), ("", False)]
)
def test_house_numbers(raw: str, ok: bool) -> None:
    if ok:
        assert parse_house_number(raw) == int(raw)
    else:
        with pytest.raises(RuleError):
            parse_house_number(raw)


def test_phone_numbers() -> None:
    assert parse_phone("06-12345678") == "06-12345678"
    assert parse_phone("+31 6 1234 5678") == "+31 6 1234 5678"
    assert parse_phone("") is None
    for bad in ("12345", "06-1234567x", "bel mij"):
        with pytest.raises(RuleError):
            parse_phone(bad)


def test_iso_week_crosses_the_year_boundary() -> None:
    assert iso_week(date(2026, 1, 1)) == "2026-W01"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
