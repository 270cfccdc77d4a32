"""Secret keys per partner, and the keyed pseudonyms (HMAC-SHA256) made with them.

Kinds of key (``KINDS``):

* ``pseudonym``: one key per partner. The same resident gets one stable pseudonym at a partner and
  pseudonyms that cannot be linked across partners (other key, so other HMAC).
* ``webhook``: the signing secret per partner (used by the webhook code, not here).
* ``ledger``: one internal key, partner id ``wijkbrug`` (``LEDGER_PARTNER``), for hashing resident
  identifiers in the delivery ledger.

Where keys live (never in the repository):

* a key directory (``default_key_dir()`` or ``$WIJKBRUG_KEY_DIR`` via Settings), one file per kind
  and partner: ``<dir>/<kind>/<partner>.json`` =
  ``{"current": key_id, "keys": [{"key_id": ..., "created": ..., "secret": base64}, ...]}``,
  mode 0600 in directories of mode 0700. Development keys are generated there on first use.
  A key file that group or others can access is refused (POSIX).
* the environment, for production secret injection:
  ``WIJKBRUG_KEY__<KIND>__<PARTNER>`` (partner upper-cased, ``-`` as ``_``), e.g.
  ``WIJKBRUG_KEY__PSEUDONYM__BUURTTEAM_OVERVECHT=<key_id>:<base64 secret>[;<key_id>:<secret>...]``.
  The first key listed is current, the others stay available to ``get``. When such a variable is
  set it is the only source for that partner and kind (the key file is ignored), and it cannot be
  rotated here: rotation happens in the secret store.

Rotation (``KeyStore.rotate``) makes a new current key and keeps every earlier one, so pseudonyms
made before stay attributable; the delivery ledger records which key id served each delivery.
Key ids look like ``<partner>-<yyyymmdd UTC>-<6 random hex>``: nothing about the secret can be
derived from them.

No secret ever appears in a repr, a str, a log line, an error message or an output: ``PartnerKey``
hides it in its repr, errors never quote file contents or environment values, and exceptions raised
while parsing secret material are not chained to the new error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

KINDS = ("pseudonym", "webhook", "ledger")
LEDGER_PARTNER = "wijkbrug"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 32
ENV_PREFIX = "WIJKBRUG_KEY__"
PSEUDONYM_LENGTH = 26  # lowercase base32 of 16 bytes (128 bits), no padding

_PARTNER_RE = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
# Key ids from the environment come from a secret store: accept a conservative charset only.
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_POSIX = os.name == "posix"


class KeyStoreError(Exception):
    """A key cannot be found, read, made or rotated. The message never holds secret material."""


@dataclass(frozen=True, slots=True, repr=False)
class PartnerKey:
    """One secret key of one partner and kind; ``repr``/``str`` never show the secret."""

    partner: str
    kind: str
    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        check_partner(self.partner)
        check_kind(self.kind)
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise KeyStoreError(
                f"sleutel {self.key_id!r} van {self.partner} ({self.kind}) is te kort: "
                f"minstens {MIN_SECRET_BYTES} bytes nodig"
            )

    def __repr__(self) -> str:
        return (
            f"PartnerKey(partner={self.partner!r}, kind={self.kind!r}, "
            f"key_id={self.key_id!r}, secret=<hidden>)"
        )

    __str__ = __repr__


def check_partner(partner: str) -> str:
    """``partner`` if it is a valid partner id (it becomes part of a path); else KeyStoreError."""
    if not isinstance(partner, str) or not _PARTNER_RE.fullmatch(partner):
        raise KeyStoreError(
            "ongeldige partner-id: alleen kleine letters, cijfers en '-', "
            "beginnend met een letter, 2 tot 64 tekens"
        )
    return partner


def check_kind(kind: str) -> str:
    """``kind`` if it is one of ``KINDS``; else KeyStoreError."""
    if kind not in KINDS:
        raise KeyStoreError(f"onbekende sleutelsoort; kies uit {', '.join(KINDS)}")
    return kind


def env_var_name(partner: str, kind: str = "pseudonym") -> str:
    """The environment variable that injects the keys of ``partner`` and ``kind``."""
    check_partner(partner)
    check_kind(kind)
    return f"{ENV_PREFIX}{kind.upper()}__{partner.replace('-', '_').upper()}"


def default_key_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/wijkbrug/keys``, else ``~/.local/share/wijkbrug/keys``: outside the repo.

    ``$WIJKBRUG_KEY_DIR`` (read by Settings) overrides this default elsewhere.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "wijkbrug" / "keys"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _b64decode(text: object) -> bytes | None:
    """Strict base64 (standard or URL-safe alphabet); None when it is not. Never raises."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text.encode("ascii"))
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


@dataclass(frozen=True, slots=True)
class _Entry:
    key: PartnerKey
    created: str


@dataclass(frozen=True, slots=True)
class _Keyring:
    """All keys of one partner and kind, in order of creation, and which one is current."""

    entries: tuple[_Entry, ...]
    current: str
    source: str  # "file" or "env"

    def find(self, key_id: str) -> PartnerKey | None:
        for entry in self.entries:
            if entry.key.key_id == key_id:
                return entry.key
        return None


class KeyStore:
    """The keys of every partner: a key directory, overridden per partner and kind by the
    environment. Safe for several processes at once (file lock around generation and rotation;
    files are replaced atomically, so readers never see half a file)."""

    def __init__(
        self,
        directory: Path,
        environ: Mapping[str, str] | None = None,
        *,
        generate: bool = True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.directory = Path(directory)
        self._environ = os.environ if environ is None else environ
        self.generate = generate
        self._clock = clock
        # (kind, partner) -> (file identity, keyring): re-read only when the file changed, so a
        # long-running process picks up a rotation made by the CLI in another process.
        self._file_cache: dict[tuple[str, str], tuple[tuple[int, int, int], _Keyring]] = {}
        self._env_cache: dict[tuple[str, str], tuple[str, _Keyring]] = {}

    def __repr__(self) -> str:
        return f"KeyStore(directory={str(self.directory)!r}, generate={self.generate})"

    __str__ = __repr__

    # ------------------------------------------------------------------ public API

    def current(self, partner: str, kind: str = "pseudonym") -> PartnerKey:
        """The key for new work; made on first use when ``generate`` (else KeyStoreError)."""
        ring = self._ring(partner, kind)
        if ring is None:
            if not self.generate:
                raise KeyStoreError(
                    f"geen {kind}-sleutel voor {partner} in {self._path(partner, kind)} en niet "
                    f"in {env_var_name(partner, kind)}"
                )
            ring = self._create_first(partner, kind)
        key = ring.find(ring.current)
        assert key is not None  # checked when the ring was read
        return key

    def get(self, partner: str, key_id: str, kind: str = "pseudonym") -> PartnerKey:
        """The key with id ``key_id`` (current or earlier); KeyStoreError when unknown."""
        ring = self._ring(partner, kind)
        key = ring.find(key_id) if ring is not None else None
        if key is None:
            raise KeyStoreError(f"{kind}-sleutel {key_id!r} van {partner} is onbekend")
        return key

    def rotate(self, partner: str, kind: str = "pseudonym") -> PartnerKey:
        """Make a new current key; every earlier key is kept. Not for keys from the environment."""
        self._refuse_env(partner, kind)
        with self._locked(partner, kind):
            ring = self._read_file(partner, kind)
            entries = ring.entries if ring is not None else ()
            entry = self._new_entry(partner, kind, {e.key.key_id for e in entries})
            new = _Keyring((*entries, entry), entry.key.key_id, "file")
            self._write_file(partner, kind, new)
        log.info("new %s key for %s: %s", kind, partner, entry.key.key_id)
        return entry.key

    def key_ids(self, partner: str, kind: str = "pseudonym") -> list[tuple[str, str, bool]]:
        """``(key_id, created, is_current)`` per key, oldest first; never generates a key.

        ``created`` is an ISO 8601 UTC timestamp, or ``""`` for keys from the environment.
        """
        ring = self._ring(partner, kind)
        if ring is None:
            return []
        return [(e.key.key_id, e.created, e.key.key_id == ring.current) for e in ring.entries]

    def from_environment(self, partner: str, kind: str = "pseudonym") -> bool:
        """Whether the keys of ``partner`` and ``kind`` come from the environment."""
        return env_var_name(partner, kind) in self._environ

    def path(self, partner: str, kind: str = "pseudonym") -> Path:
        """The key file of ``partner`` and ``kind`` (it may not exist yet)."""
        return self._path(partner, kind)

    # ------------------------------------------------------------------ sources

    def _path(self, partner: str, kind: str) -> Path:
        return self.directory / check_kind(kind) / f"{check_partner(partner)}.json"

    def _ring(self, partner: str, kind: str) -> _Keyring | None:
        check_partner(partner)
        check_kind(kind)
        if self.from_environment(partner, kind):
            return self._read_env(partner, kind)
        return self._read_file(partner, kind)

    def _refuse_env(self, partner: str, kind: str) -> None:
        if self.from_environment(partner, kind):
            raise KeyStoreError(
                f"de {kind}-sleutels van {partner} komen uit de omgeving "
                f"({env_var_name(partner, kind)}): roteer ze in de secret store en zet de "
                "nieuwe sleutel vooraan in die variabele; wijkbrug kan ze niet roteren"
            )

    def _read_env(self, partner: str, kind: str) -> _Keyring:
        name = env_var_name(partner, kind)
        raw = self._environ[name]
        cached = self._env_cache.get((kind, partner))
        if cached is not None and cached[0] == raw:
            return cached[1]
        ring = self._parse_env(partner, kind, name, raw)
        self._env_cache[(kind, partner)] = (raw, ring)
        return ring

    @staticmethod
    def _parse_env(partner: str, kind: str, name: str, raw: str) -> _Keyring:
        expected = "<key_id>:<base64-geheim>[;<key_id>:<base64-geheim>...]"
        entries: list[_Entry] = []
        seen: set[str] = set()
        items = [item.strip() for item in raw.split(";") if item.strip()]
        if not items:
            raise KeyStoreError(f"{name} is leeg; verwacht {expected}")
        for position, item in enumerate(items, 1):
            # Never quote the value, nor a part of it: a pasted secret may sit anywhere.
            key_id, sep, encoded = item.partition(":")
            key_id = key_id.strip()
            if not sep or not _KEY_ID_RE.fullmatch(key_id):
                raise KeyStoreError(
                    f"{name}, sleutel {position}: geen geldige key id vóór ':'; verwacht {expected}"
                )
            secret = _b64decode(encoded)
            if secret is None:
                raise KeyStoreError(f"{name}, sleutel {position}: het geheim is geen base64")
            if len(secret) < MIN_SECRET_BYTES:
                raise KeyStoreError(
                    f"{name}, sleutel {position}: het geheim is te kort "
                    f"(minstens {MIN_SECRET_BYTES} bytes)"
                )
            if key_id in seen:
                raise KeyStoreError(
                    f"{name}, sleutel {position}: dezelfde key id staat er twee keer"
                )
            seen.add(key_id)
            entries.append(_Entry(PartnerKey(partner, kind, key_id, secret), ""))
        return _Keyring(tuple(entries), entries[0].key.key_id, "env")

    def _read_file(self, partner: str, kind: str) -> _Keyring | None:
        path = self._path(partner, kind)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise KeyStoreError(
                f"sleutelbestand {path} is niet te openen: {error.strerror}"
            ) from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            identity = (info.st_ino, info.st_mtime_ns, info.st_size)
            if _POSIX and info.st_mode & 0o077:
                raise KeyStoreError(
                    f"sleutelbestand {path} is leesbaar of schrijfbaar voor groep of anderen "
                    f"(modus {info.st_mode & 0o777:o}); zet het op 600: chmod 600 {path}"
                )
            cached = self._file_cache.get((kind, partner))
            if cached is not None and cached[0] == identity:
                return cached[1]
            ring = _parse_file(partner, kind, path, handle.read())
        self._file_cache[(kind, partner)] = (identity, ring)
        return ring

    # ------------------------------------------------------------------ writing

    def _create_first(self, partner: str, kind: str) -> _Keyring:
        with self._locked(partner, kind):
            ring = self._read_file(partner, kind)  # another process may have been first
            if ring is None:
                entry = self._new_entry(partner, kind, set())
                ring = _Keyring((entry,), entry.key.key_id, "file")
                self._write_file(partner, kind, ring)
                log.info(
                    "generated a development %s key for %s: %s", kind, partner, entry.key.key_id
                )
        return ring

    def _new_entry(self, partner: str, kind: str, taken: set[str]) -> _Entry:
        now = self._clock().astimezone(UTC)
        while True:
            key_id = f"{partner}-{now:%Y%m%d}-{secrets.token_hex(3)}"
            if key_id not in taken:
                break
        key = PartnerKey(partner, kind, key_id, secrets.token_bytes(SECRET_BYTES))
        return _Entry(key, now.isoformat(timespec="seconds").replace("+00:00", "Z"))

    def _ensure_dir(self, kind: str) -> Path:
        folder = self.directory / kind
        for path in (self.directory, folder):
            if not path.is_dir():
                try:
                    path.mkdir(mode=0o700, parents=True, exist_ok=True)
                    if _POSIX:
                        os.chmod(path, 0o700)  # mkdir's mode is subject to the umask
                except OSError as error:
                    raise KeyStoreError(
                        f"sleutelmap {path} is niet aan te maken: {error.strerror}"
                    ) from None
        return folder

    @contextlib.contextmanager
    def _locked(self, partner: str, kind: str) -> Iterator[None]:
        """An exclusive lock on ``<dir>/<kind>/.<partner>.lock`` between processes."""
        folder = self._ensure_dir(kind)
        lock_path = folder / f".{check_partner(partner)}.lock"
        if fcntl is not None:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock
            return
        # Without flock: an exclusively created lock file, waited for up to 30 s.
        deadline = time.monotonic() + 30
        while True:  # pragma: no cover - Windows
            try:
                fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise KeyStoreError(
                        f"{lock_path} blijft bezet; verwijder het als geen "
                        "ander wijkbrug-proces sleutels maakt"
                    ) from None
                time.sleep(0.05)
        try:  # pragma: no cover - Windows
            yield
        finally:  # pragma: no cover - Windows
            os.close(fd)
            os.unlink(lock_path)

    def _write_file(self, partner: str, kind: str, ring: _Keyring) -> None:
        """Write ``ring`` atomically: a 0600 temp file in the same folder, fsync, os.replace."""
        path = self._path(partner, kind)
        doc = {
            "current": ring.current,
            "keys": [
                {
                    "key_id": e.key.key_id,
                    "created": e.created,
                    "secret": base64.b64encode(e.key.secret).decode("ascii"),
                }
                for e in ring.entries
            ],
        }
        data = (json.dumps(doc, indent=2) + "\n").encode("ascii")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    if _POSIX:
                        os.fchmod(handle.fileno(), 0o600)
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            if _POSIX:
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as error:
            raise KeyStoreError(
                f"sleutelbestand {path} is niet te schrijven: {error.strerror}"
            ) from None
        self._file_cache.pop((kind, partner), None)


def _parse_file(partner: str, kind: str, path: Path, data: bytes) -> _Keyring:
    """Parse a key file; errors name the file and the entry, never its contents.

    Parse failures are turned into KeyStoreError outside the ``except`` block, so the new error
    carries no ``__context__`` whose message or attributes (JSONDecodeError.doc) hold the file.
    """
    doc = None
    with contextlib.suppress(ValueError):
        doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or not doc["keys"]:
        raise KeyStoreError(f"sleutelbestand {path} is geen geldig sleutelbestand (JSON met keys)")
    entries: list[_Entry] = []
    for position, item in enumerate(doc["keys"], 1):
        if not isinstance(item, dict):
            raise KeyStoreError(f"sleutelbestand {path}, sleutel {position}: geen object")
        key_id, created = item.get("key_id"), item.get("created", "")
        if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
            raise KeyStoreError(f"sleutelbestand {path}, sleutel {position}: ongeldige key_id")
        secret = _b64decode(item.get("secret"))
        if secret is None or len(secret) < MIN_SECRET_BYTES:
            raise KeyStoreError(
                f"sleutelbestand {path}, sleutel {key_id}: het geheim ontbreekt, is geen base64 "
                f"of is korter dan {MIN_SECRET_BYTES} bytes"
            )
        entries.append(_Entry(PartnerKey(partner, kind, key_id, secret), str(created)))
    current = doc.get("current")
    if not any(e.key.key_id == current for e in entries):
        raise KeyStoreError(f"sleutelbestand {path}: 'current' wijst niet naar een van de sleutels")
    if len({e.key.key_id for e in entries}) != len(entries):
        raise KeyStoreError(f"sleutelbestand {path}: een key_id staat er meer dan eens in")
    return _Keyring(tuple(entries), str(current), "file")


class Pseudonymiser:
    """Fast HMAC pseudonyms for one partner key: the keyed hmac object is made once (per field)
    and ``.copy()``-ed per value.

    ``pseudonym = base32(HMAC-SHA256(secret, field + "\\x1f" + value)[:16])``, lower case, without
    padding: 26 characters from ``a-z2-7`` (URL-safe, fixed length, 128 bits). Values are encoded
    as UTF-8 exactly as given (callers normalise identifiers first, e.g. strip spaces).

    Domain separation by ``field``: the same string as a tenant number and as a BSN gives two
    unrelated pseudonyms, so identifiers of different kinds cannot be joined on their pseudonyms,
    even at one partner. The field names are therefore part of the pseudonym contract: renaming one
    changes every pseudonym of that field. ``field`` may not contain ``\\x1f``, which keeps the
    input encoding unambiguous.

    The pseudonym itself carries no key id; the key id (``self.key_id``) travels next to it in
    every delivery and the ledger, which is how a pseudonym stays attributable after a rotation.
    """

    __slots__ = ("_base", "_fields", "_memo", "key_id", "kind", "partner")

    #: Pseudonyms kept per instance: the same few thousand residents recur in every batch, and
    #: an HMAC plus its encoding costs ~10 us. Bounded; cleared whole when full.
    MEMO_SIZE = 50_000

    def __init__(self, key: PartnerKey) -> None:
        self.key_id = key.key_id
        self.partner = key.partner
        self.kind = key.kind
        self._base = hmac.new(key.secret, digestmod=hashlib.sha256)
        self._fields: dict[str, hmac.HMAC] = {}
        self._memo: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"Pseudonymiser(partner={self.partner!r}, key_id={self.key_id!r})"

    __str__ = __repr__

    def _for_field(self, field: str) -> hmac.HMAC:
        if "\x1f" in field:
            raise ValueError("field may not contain \\x1f")
        prefixed = self._base.copy()
        prefixed.update(field.encode("utf-8") + b"\x1f")
        self._fields[field] = prefixed
        return prefixed

    def __call__(self, value: str, field: str = "") -> str:
        memo = self._memo
        known = memo.get((field, value))
        if known is not None:
            return known
        prefixed = self._fields.get(field) or self._for_field(field)
        mac = prefixed.copy()
        mac.update(value.encode("utf-8", "surrogatepass"))
        pseudonym = _base32_128(mac.digest())
        if len(memo) >= self.MEMO_SIZE:
            memo.clear()
        memo[(field, value)] = pseudonym
        return pseudonym


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)  # 10 bits -> 2 characters
_B32_SHIFTS = tuple(range(120, -1, -10))


def _base32_128(digest: bytes) -> str:
    """``base64.b32encode(digest[:16])`` in lower case without padding, about twice as fast
    (the stdlib encoder is pure Python and dominated the cost of a pseudonym): the 128 bits,
    padded with two zero bits to 130, as 13 groups of 10 bits looked up as character pairs."""
    bits = int.from_bytes(digest[:16], "big") << 2
    return "".join([_B32_PAIRS[(bits >> shift) & 0x3FF] for shift in _B32_SHIFTS])
