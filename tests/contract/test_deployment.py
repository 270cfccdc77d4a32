"""docker-compose.yml parses, and everything it builds or mounts exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_describes_kafka_in_kraft_mode() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in yaml.safe_dump(COMPOSE).lower()


def test_every_build_context_and_dockerfile_copy_source_exists() -> None:
    builds = [s["build"] for s in COMPOSE["services"].values() if "build" in s]
    assert builds
    for build in builds:
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = context / (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert dockerfile.is_file()
        for line in dockerfile.read_text().splitlines():
            if match := re.match(r"^COPY\s+(?!--)(.+)\s+\S+$", line):
                for source in match.group(1).split():
                    assert (context / source).exists(), f"{dockerfile.name} copies missing {source}"


def test_every_bind_mount_source_exists_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_services_depend_only_on_defined_services() -> None:
    services = set(COMPOSE["services"])
    for service in COMPOSE["services"].values():
        assert set(service.get("depends_on", {})) <= services


def test_compose_pins_the_kafka_version_the_scripts_fetch() -> None:
    pom = (REPO / "scripts" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_stream_workers_scale_and_read_only_settings_the_code_knows() -> None:
    from wijkbrug.settings import Settings

    stream = COMPOSE["services"]["stream"]
    assert stream["command"] == ["stream"]
    assert stream["deploy"]["replicas"] >= 2
    known = {f"WIJKBRUG_{name.upper()}" for name in Settings.model_fields}
    assert set(stream["environment"]) <= known
    assert {s["target"] for s in stream["secrets"]} <= set(Settings.model_fields)


def test_secrets_come_from_files_never_inline() -> None:
    for name, secret in COMPOSE["secrets"].items():
        assert set(secret) == {"file"}, name
    text = (REPO / "docker-compose.yml").read_text()
    inline = re.findall(r"(?m)^\s*[A-Z_]*(?:PASSWORD|SECRET|TOKEN)(?!_FILE)[A-Z_]*:\s*\S", text)
    assert inline == []
    assert "POSTGRES_PASSWORD_FILE" in text
