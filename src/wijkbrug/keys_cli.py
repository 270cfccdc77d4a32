"""``wijkbrug keys rotate|list``: what the commands do and print (argparse lives in cli.py).

Outputs name key ids, dates and partners; never a secret.
"""

from __future__ import annotations

from collections.abc import Iterable

from wijkbrug.keys import LEDGER_PARTNER, KeyStore, KeyStoreError, check_kind
from wijkbrug.partners import load_partners

_LABEL = {"pseudonym": "sleutel", "webhook": "webhooksleutel", "ledger": "ledgersleutel"}


def _check(partner: str, kind: str) -> None:
    """A known partner for ``kind``: a registry partner, or ``wijkbrug`` for the ledger key."""
    check_kind(kind)
    if kind == "ledger":
        if partner != LEDGER_PARTNER:
            raise KeyStoreError(
                f"de ledgersleutel is intern en hoort bij partner {LEDGER_PARTNER!r}, "
                "niet bij een partnerorganisatie"
            )
        return
    known = load_partners()
    if partner not in known:
        raise KeyStoreError(
            f"onbekende partner {partner!r}; bekende partners (partners/registry.yaml): "
            + ", ".join(sorted(known))
        )


def partners_for(kind: str = "pseudonym") -> list[str]:
    """Every partner that can hold keys of ``kind`` (the default of ``wijkbrug keys list``)."""
    check_kind(kind)
    return [LEDGER_PARTNER] if kind == "ledger" else sorted(load_partners())


def rotate(store: KeyStore, partner: str, kind: str = "pseudonym") -> str:
    """Start a new key for new deliveries; one Dutch line with the new key id (never the secret)."""
    _check(partner, kind)
    had_keys = bool(store.key_ids(partner, kind))
    key = store.rotate(partner, kind)
    after = "vorige sleutels blijven bewaard" if had_keys else "de eerste sleutel"
    return f"nieuwe {_LABEL[kind]} voor {partner}: {key.key_id} ({after})"


def listing(store: KeyStore, partners: Iterable[str], kind: str = "pseudonym") -> str:
    """A Dutch table of every key of ``partners``: partner, key id, aangemaakt, huidig.

    Makes no keys: a partner without keys gets one line saying so.
    """
    partners = list(partners)
    for partner in partners:
        _check(partner, kind)
    header = ("partner", "sleutel-id", "aangemaakt", "huidig")
    rows: list[tuple[str, str, str, str]] = []
    for partner in partners:
        ids = store.key_ids(partner, kind)
        if not ids:
            rows.append((partner, "(geen sleutel)", "", ""))
            continue
        env = store.from_environment(partner, kind)
        for key_id, created, is_current in ids:
            made = "(uit omgeving)" if env and not created else created
            rows.append((partner, key_id, made, "ja" if is_current else ""))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
