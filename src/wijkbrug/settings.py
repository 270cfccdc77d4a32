"""Configuration in one typed object, read once from the environment at the edge (the CLI)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRETS_DIR = "/run/secrets"


def default_state_dir() -> Path:
    """Where keys and the embedded ledger live by default: outside the repository."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wijkbrug"


class Settings(BaseSettings):
    """Every setting wijkbrug reads; environment variables are prefixed ``WIJKBRUG_``."""

    # Secrets (the ledger URL with its password) may come from files in /run/secrets, named by
    # prefix and field (``wijkbrug_ledger_url``), as container secrets are mounted; the
    # environment wins.
    model_config = SettingsConfigDict(
        env_prefix="WIJKBRUG_",
        extra="ignore",
        secrets_dir=SECRETS_DIR if Path(SECRETS_DIR).is_dir() else None,
    )

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic name (isolates environments and tests)."
    )
    topic_replication_factor: int | None = Field(
        None, description="Overrides the replication factor of config/topics.yaml."
    )
    kafka_request_timeout_ms: int = Field(30_000, description="Produce/admin request timeout.")
    kafka_bootstrap_timeout_ms: int = Field(
        30_000, description="How long to keep trying to reach the broker before giving up."
    )
    kafka_client_id: str = Field("wijkbrug", description="Client id shown in broker logs.")
    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="Keys (development) and the embedded SQLite ledger; never inside the repo.",
    )
    ledger_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the ledger; default SQLite in state_dir, "
        "postgresql+psycopg://... in production.",
    )
    key_dir: Path | None = Field(
        None,
        description="Key files (0600); default state_dir/keys. Keys may also come from "
        "WIJKBRUG_KEY__<KIND>__<PARTNER> variables.",
    )
    generate_keys: bool = Field(
        True, description="Generate missing development keys on first use (false in production)."
    )
    webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Webhook address per partner, JSON: {"dock": "https://..."}.',
    )
    webhook_timeout_s: float = Field(5.0, description="Per-request webhook timeout.")
    stream_group: str = Field("wijkbrug-stream", description="Consumer group of stream workers.")
    stream_writer: Literal["process", "inline"] = Field(
        "process",
        description="Where a stream worker writes the ledger and sends to partner topics: a "
        "child process (overlaps planning, uses a second core) or the worker's own thread.",
    )
    timezone: str = Field("Europe/Amsterdam", description="Whose calendar day consent is on.")
    production: bool = Field(
        False,
        description="Production mode: the web workspace refuses to start without configured "
        "users and a session key.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address a stream worker's /metrics and /healthz listen on (0.0.0.0 in a "
        "container, for Prometheus and the health check).",
    )
    metrics_port: int | None = Field(
        None, description="Port of a stream worker's /metrics and /healthz (none: not served)."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines of every wijkbrug process: one JSON object each, or text."
    )
    web_host: str = Field("127.0.0.1", description="Address the web workspace listens on.")
    web_port: int = Field(8080, description="Port of the web workspace.")
    web_users_file: Path | None = Field(
        None,
        description="Users of the web workspace: JSON with per user a role (viewer, steward, "
        "privacy) and a scrypt password hash (`wijkbrug web user`); a secret file.",
    )
    web_airflow_roles: dict[str, str] = Field(
        default_factory=dict,
        description="Mounted in Airflow: workspace role per Airflow user name, JSON: "
        '{"anna": "steward", "piet": "privacy"}; other signed-in users are viewers.',
    )
    web_session_key: str | None = Field(
        None,
        description="Key that signs web sessions and CSRF tokens "
        "(or the file /run/secrets/wijkbrug_web_session_key).",
    )

    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.state_dir / 'ledger.sqlite'}"

    def keys_path(self) -> Path:
        return self.key_dir or self.state_dir / "keys"
