"""Date helpers for the generator: working days, months, the formats of a planning export."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from random import Random

#: Date formats of the planning export with their weights: d-m-yyyy, dd-mm-yyyy, yyyy-mm-dd.
PLANNING_DATE_FORMATS: tuple[tuple[str, int], ...] = (("dmy", 75), ("ddmmyyyy", 15), ("iso", 10))


def workday(day: date) -> date:
    """The day itself on Monday to Friday, else the next Monday."""
    weekday = day.weekday()
    return day + timedelta(days=7 - weekday) if weekday >= 5 else day


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the end of a shorter month."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def pick_format(rng: Random) -> str:
    names, weights = zip(*PLANNING_DATE_FORMATS, strict=True)
    return rng.choices(names, weights)[0]


def format_date(day: date, style: str) -> str:
    """``day`` as the planning export writes it in ``style`` (see PLANNING_DATE_FORMATS)."""
    if style == "dmy":
        return f"{day.day}-{day.month}-{day.year}"
    if style == "ddmmyyyy":
        return f"{day.day:02d}-{day.month:02d}-{day.year}"
    return day.isoformat()
