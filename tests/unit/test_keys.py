"""Partner keys and pseudonyms: stable per partner, unlinkable across partners, never leaked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wijkbrug import keys_cli
from wijkbrug.keys import (
    KINDS,
    PSEUDONYM_LENGTH,
    KeyStore,
    KeyStoreError,
    PartnerKey,
    Pseudonymiser,
    _base32_128,
    default_key_dir,
    env_var_name,
)

POSIX = os.name == "posix"
FIXED_KEY = PartnerKey("dock", "pseudonym", "dock-20260101-abcdef", bytes(range(32)))
FIXED = Pseudonymiser(FIXED_KEY)


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys", environ={})


def secret_forms(secret: bytes) -> list[str]:
    """Every textual form a secret could leak in."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        base64.b32encode(secret).decode().rstrip("="),
        repr(secret),
        str(list(secret)),
    ]


def assert_no_secret(text: str, *secrets_: bytes) -> None:
    for secret in secrets_:
        for form in secret_forms(secret):
            assert form not in text
        # No long run of the secret either (a leaked half is a leak).
        assert base64.b64encode(secret).decode()[:16] not in text
        assert secret.hex()[:16] not in text


def env_value(*pairs: tuple[str, bytes]) -> str:
    return ";".join(f"{key_id}:{base64.b64encode(secret).decode()}" for key_id, secret in pairs)


# ---------------------------------------------------------------- pseudonyms


def test_same_key_and_value_give_the_same_pseudonym(store: KeyStore) -> None:
    first = Pseudonymiser(store.current("dock"))
    again = Pseudonymiser(KeyStore(store.directory, environ={}).current("dock"))
    assert first("123456782", "bsn") == first("123456782", "bsn") == again("123456782", "bsn")
    assert first.key_id == again.key_id


def test_pseudonym_format() -> None:
    pseudonym = FIXED("123456782", "bsn")
    assert len(pseudonym) == PSEUDONYM_LENGTH == 26
    assert set(pseudonym) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_known_answer() -> None:
    """The construction is part of the contract: base32(HMAC-SHA256(k, field 0x1f value)[:16])."""
    mac = hmac.new(bytes(range(32)), b"bsn\x1f123456782", hashlib.sha256).digest()
    expected = base64.b32encode(mac[:16]).decode().rstrip("=").lower()
    assert FIXED("123456782", "bsn") == expected


def test_remembered_pseudonyms_are_the_computed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo (bounded, cleared when full) never changes a pseudonym, by field or value."""
    monkeypatch.setattr(Pseudonymiser, "MEMO_SIZE", 3)
    remembering = Pseudonymiser(FIXED_KEY)
    values = [("1", "bsn"), ("1", "tenant_number"), ("2", "bsn"), ("3", "bsn"), ("1", "bsn")]
    first = [remembering(v, f) for v, f in values]
    again = [remembering(v, f) for v, f in reversed(values)]
    fresh = [Pseudonymiser(FIXED_KEY)(v, f) for v, f in values]
    assert first == fresh == again[::-1]
    assert first[0] == first[4] != first[1]
    assert len(remembering._memo) <= 3


def test_fields_are_domain_separated() -> None:
    assert FIXED("12345", "bsn") != FIXED("12345", "tenant_number")
    assert FIXED("12345", "bsn") != FIXED("12345")
    # The separator keeps field/value boundaries unambiguous.
    assert FIXED("bx", "a") != FIXED("x", "ab")
    with pytest.raises(ValueError):
        FIXED("b", "a\x1fb")


def test_differs_across_partners_and_is_unlinkable(store: KeyStore) -> None:
    partners = ["buurtteam-overvecht", "gemeente-werk-inkomen", "dock", "bewonersverbinders"]
    by_partner = {p: Pseudonymiser(store.current(p)) for p in partners}
    values = [f"{n:09d}" for n in range(200)]
    seen: dict[str, str] = {}
    for partner, pseudonymise in by_partner.items():
        for value in values:
            pseudonym = pseudonymise(value, "bsn")
            # No pseudonym at one partner equals any pseudonym at another partner.
            assert seen.setdefault(pseudonym, partner) == partner
    for value in values[:10]:
        assert len({p(value, "bsn") for p in by_partner.values()}) == len(partners)


def test_rotation_changes_pseudonyms_and_keeps_old_keys(store: KeyStore) -> None:
    old = store.current("dock")
    new = store.rotate("dock")
    assert new.key_id != old.key_id
    assert store.current("dock") == new
    assert store.get("dock", old.key_id) == old  # earlier pseudonyms stay attributable
    assert store.get("dock", new.key_id) == new
    assert Pseudonymiser(old)("42", "bsn") != Pseudonymiser(new)("42", "bsn")
    ids = store.key_ids("dock")
    assert [(key_id, current) for key_id, _, current in ids] == [
        (old.key_id, False),
        (new.key_id, True),
    ]
    third = store.rotate("dock")
    assert [key_id for key_id, _, _ in store.key_ids("dock")] == [
        old.key_id,
        new.key_id,
        third.key_id,
    ]
    with pytest.raises(KeyStoreError):
        store.get("dock", "dock-19990101-000000")


def test_a_long_running_store_sees_a_rotation_by_another_process(store: KeyStore) -> None:
    first = store.current("dock")
    other = KeyStore(store.directory, environ={})  # e.g. `wijkbrug keys rotate dock`
    rotated = other.rotate("dock")
    assert store.current("dock") == rotated != first


@given(value=st.text(), field=st.text().filter(lambda f: "\x1f" not in f))
def test_pseudonym_is_deterministic_and_fixed_length(value: str, field: str) -> None:
    pseudonym = FIXED(value, field)
    assert pseudonym == FIXED(value, field) == Pseudonymiser(FIXED_KEY)(value, field)
    assert len(pseudonym) == PSEUDONYM_LENGTH
    mac = hmac.new(
        FIXED_KEY.secret, f"{field}\x1f{value}".encode("utf-8", "surrogatepass"), "sha256"
    )
    assert pseudonym == base64.b32encode(mac.digest()[:16]).decode().rstrip("=").lower()
    assert pseudonym.isascii() and pseudonym.isalnum() and pseudonym == pseudonym.lower()


@given(digest=st.binary(min_size=16, max_size=32))
def test_fast_base32_matches_the_standard_library(digest: bytes) -> None:
    expected = base64.b32encode(digest[:16]).decode().rstrip("=").lower()
    assert _base32_128(digest) == expected


# ---------------------------------------------------------------- key files


def test_key_ids_and_file_format(tmp_path: Path) -> None:
    store = KeyStore(
        tmp_path / "keys", environ={}, clock=lambda: datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    )
    key = store.current("dock")
    assert key.key_id.startswith("dock-20261129-") and len(key.key_id) == len("dock-20261129-") + 6
    doc = json.loads((tmp_path / "keys" / "pseudonym" / "dock.json").read_text())
    assert doc["current"] == key.key_id
    assert doc["keys"] == [
        {
            "key_id": key.key_id,
            "created": "2026-11-29T10:00:00Z",
            "secret": base64.b64encode(key.secret).decode(),
        }
    ]
    assert len(key.secret) >= 32


def test_kinds_are_separate(store: KeyStore) -> None:
    keys = {kind: store.current("wijkbrug" if kind == "ledger" else "dock", kind) for kind in KINDS}
    assert len({k.secret for k in keys.values()}) == len(KINDS)
    assert (store.directory / "ledger" / "wijkbrug.json").is_file()


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_generated_key_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = KeyStore(tmp_path / "keys", environ={})
        store.current("dock")
        store.rotate("dock")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "pseudonym").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "pseudonym" / "dock.json").stat().st_mode) == 0o600
    # Nothing left behind by the atomic writes.
    assert sorted(p.name for p in (tmp_path / "keys" / "pseudonym").iterdir()) == [
        ".dock.lock",
        "dock.json",
    ]


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_a_key_file_others_can_read(store: KeyStore, mode: int) -> None:
    key = store.current("dock")
    path = store.path("dock")
    os.chmod(path, mode)
    fresh = KeyStore(store.directory, environ={})
    for call in (
        lambda: fresh.current("dock"),
        lambda: fresh.get("dock", key.key_id),
        lambda: fresh.rotate("dock"),
        lambda: fresh.key_ids("dock"),
    ):
        with pytest.raises(KeyStoreError, match="chmod 600") as caught:
            call()
        assert_no_secret(str(caught.value), key.secret)
    # The cached store checks again too: loosened permissions are noticed at once.
    with pytest.raises(KeyStoreError, match="chmod 600"):
        store.current("dock")
    os.chmod(path, 0o600)
    assert fresh.current("dock") == key


def test_no_generation_when_disabled(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", environ={}, generate=False)
    with pytest.raises(KeyStoreError, match="WIJKBRUG_KEY__PSEUDONYM__DOCK"):
        store.current("dock")
    assert not (tmp_path / "keys").exists()
    assert store.key_ids("dock") == []


@pytest.mark.parametrize(
    "partner",
    [
        "",
        "d",
        "Dock",
        "1dock",
        "-dock",
        "../dock",
        "dock/../x",
        "dock.json",
        "dock ",
        "a" * 65,
        "é",
    ],
)
def test_invalid_partner_ids_are_rejected(store: KeyStore, partner: str) -> None:
    for call in (
        lambda: store.current(partner),
        lambda: store.rotate(partner),
        lambda: store.get(partner, "x"),
        lambda: store.key_ids(partner),
    ):
        with pytest.raises(KeyStoreError):
            call()
    assert not store.directory.exists() or not any(store.directory.rglob("*.json"))


def test_invalid_kind_is_rejected(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError):
        store.current("dock", "../etc")


def test_corrupt_key_file_is_reported_without_its_contents(store: KeyStore) -> None:
    key = store.current("dock")
    path = store.path("dock")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated JSON holding the secret
    with pytest.raises(KeyStoreError) as caught:
        KeyStore(store.directory, environ={}).current("dock")
    assert_no_secret(str(caught.value), key.secret)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def _first_use(directory: str, barrier: Any, out: Any) -> None:
    """One process's first use of the store, started at the same moment as the others."""
    store = KeyStore(Path(directory), environ={})
    barrier.wait()
    key = store.current("dock")
    out.put(key.key_id)


def test_concurrent_first_use_makes_one_key(tmp_path: Path) -> None:
    # fork where there is one (fast); spawn elsewhere. The barrier lines the processes up.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers = 4
    for round_ in range(5):
        directory = tmp_path / f"keys{round_}"
        barrier = context.Barrier(workers)
        out = context.Queue()
        processes = [
            context.Process(target=_first_use, args=(str(directory), barrier, out))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        key_ids = [out.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
        assert len(set(key_ids)) == 1
        doc = json.loads((directory / "pseudonym" / "dock.json").read_text())
        assert [k["key_id"] for k in doc["keys"]] == key_ids[:1]


# ---------------------------------------------------------------- environment


def test_environment_key_takes_precedence_and_cannot_be_rotated(store: KeyStore) -> None:
    file_key = store.current("dock")
    env_secret, older_secret = os.urandom(32), os.urandom(48)
    name = env_var_name("dock")
    assert name == "WIJKBRUG_KEY__PSEUDONYM__DOCK"
    environ = {name: env_value(("prod-2026-2", env_secret), ("prod-2026-1", older_secret))}
    env_store = KeyStore(store.directory, environ=environ)
    current = env_store.current("dock")
    assert (current.key_id, current.secret) == ("prod-2026-2", env_secret)
    assert env_store.get("dock", "prod-2026-1").secret == older_secret
    assert env_store.key_ids("dock") == [("prod-2026-2", "", True), ("prod-2026-1", "", False)]
    assert env_store.from_environment("dock")
    with pytest.raises(KeyStoreError, match="secret store") as caught:
        env_store.rotate("dock")
    assert_no_secret(str(caught.value), env_secret, older_secret)
    with pytest.raises(KeyStoreError, match="secret store"):
        keys_cli.rotate(env_store, "dock")
    # The file is left alone; other partners still use the key directory.
    assert store.current("dock") == file_key
    assert env_store.current("buurtteam-overvecht").key_id.startswith("buurtteam-overvecht-")
    assert env_var_name("buurtteam-overvecht", "webhook") == (
        "WIJKBRUG_KEY__WEBHOOK__BUURTTEAM_OVERVECHT"
    )


def test_environment_accepts_urlsafe_base64(tmp_path: Path) -> None:
    secret = bytes([0xFB, 0xFF] * 20)
    environ = {
        env_var_name("dock"): f"k1:{base64.urlsafe_b64encode(secret).decode().rstrip('=')}=="
    }
    assert KeyStore(tmp_path, environ=environ).current("dock").secret == secret


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";",
        "{secret}",  # the secret without a key id
        "k1:{secret};k1:{secret}",
        "k1:not base64!!{secret}",
        "k1:" + base64.b64encode(b"short").decode(),
        "bad id:{secret}",
    ],
)
def test_bad_environment_values_never_echo_the_secret(tmp_path: Path, value: str) -> None:
    secret = os.urandom(32)
    raw = value.format(secret=base64.b64encode(secret).decode())
    store = KeyStore(tmp_path, environ={env_var_name("dock"): raw})
    with pytest.raises(KeyStoreError) as caught:
        store.current("dock")
    message = str(caught.value)
    assert "WIJKBRUG_KEY__PSEUDONYM__DOCK" in message
    assert_no_secret(message, secret)
    if len(raw) > 8:
        assert raw not in message
    assert caught.value.__cause__ is None


# ---------------------------------------------------------------- no secret anywhere


def test_no_secret_in_repr_str_or_cli_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    store = KeyStore(tmp_path / "keys", environ={})
    first = store.current("dock")
    line = keys_cli.rotate(store, "dock")
    second = store.current("dock")
    webhook_line = keys_cli.rotate(store, "dock", "webhook")
    ledger_line = keys_cli.rotate(store, "wijkbrug", "ledger")
    table = keys_cli.listing(store, ["dock", "buurtteam-overvecht", "bewonersverbinders"])
    secrets_ = [first.secret, second.secret]
    secrets_ += [
        store.current("dock", "webhook").secret,
        store.current("wijkbrug", "ledger").secret,
    ]
    pseudonymiser = Pseudonymiser(second)
    texts = [
        repr(first),
        str(first),
        repr(store),
        str(store),
        repr(pseudonymiser),
        str(pseudonymiser),
        f"{first!r} {first!s} {[first]}",
        line,
        webhook_line,
        ledger_line,
        table,
        caplog.text,
        capsys.readouterr().out,
    ]
    for text in texts:
        assert_no_secret(text, *secrets_)
    assert "secret=<hidden>" in repr(first)
    assert line == f"nieuwe sleutel voor dock: {second.key_id} (vorige sleutels blijven bewaard)"
    assert webhook_line.startswith("nieuwe webhooksleutel voor dock: dock-")
    assert webhook_line.endswith("(de eerste sleutel)")
    assert first.key_id in table and second.key_id in table
    rows = {row.split()[1]: row for row in table.splitlines()[2:]}
    assert rows[second.key_id].rstrip().endswith("ja")
    assert not rows[first.key_id].rstrip().endswith("ja")
    assert "bewonersverbinders   (geen sleutel)" in table
    assert table.splitlines()[0].split() == ["partner", "sleutel-id", "aangemaakt", "huidig"]
    assert f"{first.key_id}" in caplog.text  # key ids may be logged; secrets never


def test_listing_of_environment_keys(tmp_path: Path) -> None:
    secret = os.urandom(32)
    store = KeyStore(tmp_path, environ={env_var_name("dock"): env_value(("prod-1", secret))})
    table = keys_cli.listing(store, ["dock"])
    assert "prod-1" in table and "(uit omgeving)" in table
    assert_no_secret(table, secret)


def test_cli_rejects_unknown_partners(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="onbekende partner 'wijkteam'"):
        keys_cli.rotate(store, "wijkteam")
    with pytest.raises(KeyStoreError, match="onbekende partner"):
        keys_cli.listing(store, ["dock", "wijkteam"])
    with pytest.raises(KeyStoreError, match="ledgersleutel"):
        keys_cli.rotate(store, "dock", "ledger")
    with pytest.raises(KeyStoreError, match="onbekende partner"):
        keys_cli.rotate(store, "wijkbrug")  # the internal id is no partner for pseudonyms
    with pytest.raises(KeyStoreError, match="sleutelsoort"):
        keys_cli.rotate(store, "dock", "password")
    assert not store.directory.exists()


def test_partners_for_each_kind(store: KeyStore) -> None:
    assert keys_cli.partners_for("ledger") == ["wijkbrug"]
    assert "dock" in keys_cli.partners_for() and "wijkbrug" not in keys_cli.partners_for()
    table = keys_cli.listing(store, keys_cli.partners_for("webhook"), "webhook")
    assert table.count("(geen sleutel)") == len(keys_cli.partners_for("webhook"))
    assert not store.directory.exists()  # listing makes no keys


def test_default_key_dir_is_outside_the_repository(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert default_key_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "wijkbrug" / "keys"
    home_default = default_key_dir({})
    assert home_default == Path.home() / ".local" / "share" / "wijkbrug" / "keys"
    assert default_key_dir({"XDG_DATA_HOME": "relative"}) == home_default
    assert repo not in home_default.parents
