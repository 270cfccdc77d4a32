"""Users of the web workspace: roles, and passwords kept only as scrypt hashes.

The users file is JSON, ``{"users": {"anna": {"role": "steward", "password": "scrypt$..."}}}``,
written by ``wijkbrug web user`` with mode 0600. It is a secret: in production it is mounted
from the secret store, never committed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

#: What each role may do. Viewers read; stewards also reveal, release and reject quarantined
#: records; privacy officers also answer subject-access (inzage) requests.
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "steward": frozenset({"view", "reveal", "decide"}),
    "privacy": frozenset({"view", "inzage"}),
}
ROLE_NL = {"viewer": "lezer", "steward": "data steward", "privacy": "privacy officer"}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class UsersError(ValueError):
    """The users file is missing or wrong (the message names no password or hash)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    parts = [str(_SCRYPT[k]) for k in ("n", "r", "p")]
    parts += [base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    return "$".join(["scrypt", *parts])


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


class Users:
    """The configured users; :meth:`login` checks a name and password."""

    def __init__(self, entries: dict[str, dict[str, str]]) -> None:
        for name, entry in entries.items():
            if entry.get("role") not in ROLES:
                raise UsersError(f"user {name!r}: role must be one of {', '.join(ROLES)}")
            if not str(entry.get("password", "")).startswith("scrypt$"):
                raise UsersError(f"user {name!r}: the password must be a scrypt hash")
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> Users:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsersError(f"no users file at {path}") from None
        except (OSError, ValueError) as error:
            raise UsersError(f"users file {path} unreadable: {type(error).__name__}") from None
        entries = document.get("users") if isinstance(document, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise UsersError(f"users file {path} names no users")
        return cls(entries)

    def login(self, name: str, password: str) -> User | None:
        entry = self._entries.get(name)
        if entry is None:
            check_password(password, _DUMMY)  # the same time whether or not the name exists
            return None
        if not check_password(password, entry["password"]):
            return None
        return User(name, entry["role"])

    def get(self, name: str) -> User | None:
        entry = self._entries.get(name)
        return User(name, entry["role"]) if entry else None


def set_user(path: Path, name: str, role: str, password: str) -> None:
    """Add or change a user in the users file (created with mode 0600)."""
    if role not in ROLES:
        raise UsersError(f"role must be one of {', '.join(ROLES)}")
    if not name or not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise UsersError("a user name is letters, digits, '.', '-' and '_'")
    document: dict = {"users": {}}
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
    document.setdefault("users", {})[name] = {"role": role, "password": hash_password(password)}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, sort_keys=True)
    os.replace(temporary, path)


_DUMMY = hash_password(secrets.token_hex(8))
