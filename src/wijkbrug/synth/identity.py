"""Synthetic personal identifiers: BSNs that pass (or deliberately fail) the elfproef, phones."""

from __future__ import annotations

from random import Random

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def elfproef(bsn: str) -> bool:
    """True when ``bsn`` is 9 digits, not all zeros, and its weighted sum is divisible by 11."""
    if len(bsn) != 9 or not bsn.isdigit() or bsn == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(bsn, _WEIGHTS, strict=True)) % 11 == 0


def valid_bsn(rng: Random) -> str:
    """A random 9-digit number that passes the elfproef."""
    while True:
        digits = [rng.randint(1, 6)] + [rng.randint(0, 9) for _ in range(7)]
        check = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=False)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def invalid_bsn(rng: Random) -> str:
    """A random 9-digit number that fails the elfproef."""
    while True:
        candidate = str(rng.randint(100_000_000, 699_999_999))
        if not elfproef(candidate):
            return candidate


def mobile_number(rng: Random) -> str:
    """The eight digits after ``06`` of a Dutch mobile number."""
    return str(rng.randint(10_000_000, 59_999_999))


def format_phone(digits: str, rng: Random) -> str:
    """A Dutch mobile number written the way visitors type it."""
    style = rng.choices(range(5), (50, 20, 15, 10, 5))[0]
    if style == 0:
        return f"06-{digits}"
    if style == 1:
        return f"06{digits}"
    if style == 2:
        return f"+31 6 {digits}"
    if style == 3:
        return f"+316{digits}"
    pairs = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    return f"06 {pairs}"
