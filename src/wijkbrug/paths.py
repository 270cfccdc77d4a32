"""Where the human-reviewed data files live: schemas/, config/, partners/.

In a wheel they are packaged under ``wijkbrug/_data``; in a checkout (editable install) they are
the top-level folders of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGED = Path(__file__).parent / "_data"
_CHECKOUT = Path(__file__).resolve().parents[2]


@cache
def data_dir(name: str) -> Path:
    """The folder ``name`` (``schemas``, ``config``, ``partners``), packaged or in the checkout."""
    for root in (_PACKAGED, _CHECKOUT):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found in {_PACKAGED} or {_CHECKOUT}")
