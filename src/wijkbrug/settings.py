"""Configuration in one typed object, read once from the environment at the edge (the CLI)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting wijkbrug reads; environment variables are prefixed ``WIJKBRUG_``."""

    model_config = SettingsConfigDict(env_prefix="WIJKBRUG_", extra="ignore")

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
