"""docker-compose.yml describes the whole stack; no container engine runs here, so its structure is
checked: images pinned or built from files that exist, health checks, secrets from files only, and
environment names, secret files and commands that the code really reads and has.

A service is a one-shot job when it has a profile (run by hand: `docker compose run --rm ...`) or
another service waits for it with `condition: service_completed_successfully`; every other
service is long-running.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict] = COMPOSE["services"]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
WIJKBRUG_DOCKERFILE = REPO / "Dockerfile"
#: The Airflow 3 components the issue asks for, and the `airflow` command each runs.
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
#: Environment names whose values are secrets (KEY as a word: WIJKBRUG_GENERATE_KEYS is none).
SENSITIVE_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(?:^|_)KEY(?:_|$)")
#: A value that names a secret file, or a command that reads one (Airflow's `_CMD` options).
FROM_SECRET_FILE = re.compile(r"^(?:cat )?/run/secrets/[\w.-]+$")
INTERPOLATED = re.compile(r"^\$\{[^}]*\}$")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def _depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _one_shot() -> set[str]:
    awaited = {
        dep
        for service in SERVICES.values()
        for dep, condition in _depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    return {
        name for name, service in SERVICES.items() if service.get("profiles") or name in awaited
    }


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _secret_paths(service: dict) -> dict[str, str]:
    """Secret source -> the path of its file in the container."""
    paths = {}
    for secret in service.get("secrets") or []:
        source = secret if isinstance(secret, str) else secret["source"]
        target = source if isinstance(secret, str) else secret.get("target", source)
        paths[source] = target if target.startswith("/") else f"/run/secrets/{target}"
    return paths


def _dockerfile(service: dict) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return REPO / build / "Dockerfile"
    return REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def _pinned(image: str) -> bool:
    """A digest, or a tag that starts with at least major.minor (not `latest`, not `3` alone)."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    name = image.rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    return re.match(r"^\d+\.\d+", tag) is not None


def _healthcheck_command(service: dict) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test") or []
    return ["CMD-SHELL", test] if isinstance(test, str) else list(test)


WIJKBRUG_SERVICES = sorted(n for n, s in SERVICES.items() if _dockerfile(s) == WIJKBRUG_DOCKERFILE)
AIRFLOW_SERVICES = sorted({*AIRFLOW_COMPONENTS, "airflow-init"})


def test_compose_describes_kafka_in_kraft_mode() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in yaml.safe_dump(COMPOSE).lower()


def test_the_stack_has_every_part_the_issue_names() -> None:
    connectors = {f"connect-{kind}" for kind in ("planning", "home-visits", "consents", "feedback")}
    parts = {"kafka", "topics", "ledger-db", "stream", "web", *AIRFLOW_SERVICES, *connectors}
    assert parts <= set(SERVICES)


def test_every_build_context_and_dockerfile_copy_source_exists() -> None:
    builds = [s["build"] for s in SERVICES.values() if "build" in s]
    assert builds
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # The build context never carries secrets, exports with personal data or the virtualenv.
    assert {"secrets", "inbox", ".venv"} <= ignored
    for build in builds:
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = context / (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert dockerfile.is_file()
        for line in dockerfile.read_text().splitlines():
            if match := re.match(r"^COPY\s+(.+)\s+\S+$", line):
                for source in match.group(1).split():
                    if source.startswith("--"):
                        continue
                    assert (context / source).exists(), f"{dockerfile.name} copies missing {source}"
                    assert source not in ignored, f"{dockerfile.name} copies ignored {source}"


def test_pin_rule() -> None:
    assert _pinned("apache/kafka:4.1.1")
    assert _pinned("postgres:16.6-bookworm")
    assert _pinned("registry.example:5000/postgres:16.6")
    assert _pinned("postgres@sha256:" + "0" * 64)
    for floating in ("postgres", "postgres:latest", "apache/airflow:3", "python:slim"):
        assert not _pinned(floating), floating


def test_every_service_has_a_pinned_image_or_builds_one_from_files_that_exist() -> None:
    version = PYPROJECT["project"]["version"]
    built = {s["image"] for s in SERVICES.values() if "build" in s and "image" in s}
    dockerfiles = set()
    for name, service in SERVICES.items():
        if dockerfile := _dockerfile(service):
            assert dockerfile.is_file(), f"{name} builds from missing {dockerfile}"
            dockerfiles.add(dockerfile)
            # Images built here carry the project's version, never `latest`.
            assert service.get("image", f":{version}").endswith(f":{version}"), name
        else:
            image = service.get("image", "")
            assert _pinned(image), f"{name}: image {image!r} is not pinned"
            assert image not in built, f"{name} would pull {image}, which is built here"
    for dockerfile in dockerfiles:
        for base in re.findall(r"(?m)^FROM\s+(\S+)", dockerfile.read_text()):
            assert _pinned(base), f"{dockerfile.name}: FROM {base} is not pinned"


def test_long_running_services_have_health_checks_and_restart_one_shot_jobs_do_not() -> None:
    one_shot = _one_shot()
    assert {"topics", "airflow-init", "keys", "connect-planning"} <= one_shot
    long_running = set(SERVICES) - one_shot
    assert {"kafka", "ledger-db", "stream", "web", *AIRFLOW_COMPONENTS} <= long_running
    for name in long_running:
        service = SERVICES[name]
        assert service.get("restart") == "unless-stopped", name
        command = _healthcheck_command(service)
        assert not (service.get("healthcheck") or {}).get("disable"), name
        assert command[:1] in (["CMD"], ["CMD-SHELL"]) and len(command) > 1, name
        assert all(part.strip() for part in command[1:]), name
    for name in one_shot:
        assert SERVICES[name].get("restart") not in ("always", "unless-stopped"), name


def test_services_depend_only_on_defined_services() -> None:
    services = set(SERVICES)
    for service in SERVICES.values():
        assert set(service.get("depends_on", {})) <= services


def test_every_dependency_waits_for_health_or_completion() -> None:
    one_shot = _one_shot()
    for name, service in SERVICES.items():
        for dep, condition in _depends_on(service).items():
            if condition == "service_healthy":
                assert _healthcheck_command(SERVICES[dep]), f"{name} waits for {dep}'s health"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {dep}"
                assert dep in one_shot and not SERVICES[dep].get("profiles"), f"{name} -> {dep}"


def test_every_bind_mount_source_exists_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"


def test_state_lives_on_named_volumes() -> None:
    def named_mounts(service: dict) -> set[str]:
        return {
            volume.split(":")[1]
            for volume in service.get("volumes", [])
            if not volume.startswith((".", "/")) and volume.count(":") >= 1
        }

    assert SERVICES["kafka"]["environment"]["KAFKA_LOG_DIRS"] in named_mounts(SERVICES["kafka"])
    for name, service in SERVICES.items():
        if service.get("image", "").startswith("postgres:"):
            assert "/var/lib/postgresql/data" in named_mounts(service), name
        if name in AIRFLOW_SERVICES:
            assert "/opt/airflow/logs" in named_mounts(service), name
        if state_dir := _environment(service).get("WIJKBRUG_STATE_DIR"):
            assert state_dir in named_mounts(service), name
    for name in ("stream", "web", "airflow-scheduler"):
        assert _environment(SERVICES[name]).get("WIJKBRUG_STATE_DIR"), name


def test_compose_pins_the_kafka_version_the_scripts_fetch() -> None:
    pom = (REPO / "scripts" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version}"


def test_stream_workers_scale_and_read_only_settings_the_code_knows() -> None:
    from wijkbrug.settings import Settings

    stream = SERVICES["stream"]
    assert stream["command"] == ["stream"]
    # More workers than partitions of the raw topics would stand idle.
    topics = yaml.safe_load((REPO / "config" / "topics.yaml").read_text(encoding="utf-8"))
    default = topics["defaults"]["partitions"]
    partitions = min(
        t.get("partitions", default)
        for t in topics["topics"]
        if t["name"] in ("raw.renovation.milestone", "raw.signal")
    )
    assert 2 <= stream["deploy"]["replicas"] <= partitions
    known = {f"WIJKBRUG_{name.upper()}" for name in Settings.model_fields}
    assert set(stream["environment"]) <= known
    # pydantic-settings names secret files like the variables: prefix included, any case.
    assert set(_secret_paths(stream).values()) <= {
        f"/run/secrets/wijkbrug_{name}" for name in Settings.model_fields
    }


def _names_the_code_reads() -> set[str]:
    """WIJKBRUG_* names: Settings fields, and what src/ and dags/ read from os.environ."""
    from wijkbrug.settings import Settings

    names = {f"WIJKBRUG_{field.upper()}" for field in Settings.model_fields}
    direct = re.compile(
        r"""(?:environ(?:\.get)?\(\s*|environ\[\s*|getenv\(\s*|^[A-Z_]+\s*=\s*)"""
        r"""["'](WIJKBRUG_[A-Z0-9_]+)["']""",
        re.MULTILINE,
    )
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "dags").glob("*.py")]:
        names |= set(direct.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_wijkbrug_variable_in_the_compose_file_is_one_the_code_reads() -> None:
    known = _names_the_code_reads()
    prefixes = tuple(name for name in known if name.endswith("__"))  # WIJKBRUG_KEY__<KIND>__...
    assert "WIJKBRUG_KAFKA_BOOTSTRAP" in known and "WIJKBRUG_NIGHTLY_START" in known
    used = set(re.findall(r"(?<![A-Z0-9_])WIJKBRUG_[A-Z0-9_]+", COMPOSE_TEXT))
    assert used
    unknown = {name for name in used if name not in known and not name.startswith(prefixes)}
    assert unknown == set()


def test_no_environment_value_is_an_inline_secret() -> None:
    for name, service in SERVICES.items():
        mounted = set(_secret_paths(service).values())
        for key, value in _environment(service).items():
            assert not URL_WITH_PASSWORD.search(value), f"{name}: {key} holds a password"
            if SENSITIVE_NAME.search(key.upper()):
                assert value == "" or FROM_SECRET_FILE.match(value) or INTERPOLATED.match(value), (
                    f"{name}: {key} looks like an inline secret"
                )
            for path in re.findall(r"/run/secrets/[\w.-]+", value):
                assert path in mounted, f"{name}: {key} reads {path}, which is not mounted"
        if service.get("image", "").startswith("postgres:"):
            env = _environment(service)
            assert "POSTGRES_PASSWORD" not in env and env["POSTGRES_PASSWORD_FILE"] in mounted


def test_secrets_come_from_files_never_inline() -> None:
    for name, secret in COMPOSE["secrets"].items():
        assert set(secret) == {"file"}, name
    inline = [
        line
        for line in re.findall(
            r"(?m)^\s*[A-Z_]*(?:PASSWORD|SECRET|TOKEN)(?!_FILE)[A-Z_]*:\s*\S.*$", COMPOSE_TEXT
        )
        if not re.search(r":\s*(?:cat )?/run/secrets/[\w.-]+\s*$", line)
    ]
    assert inline == []
    assert "POSTGRES_PASSWORD_FILE" in COMPOSE_TEXT


def test_secret_files_live_in_secrets_are_documented_and_all_used() -> None:
    readme = (REPO / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in COMPOSE["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == Path("secrets"), f"{name}: {path} outside ./secrets"
        # The files are not in git (.gitignore); the README says how to make each one.
        assert re.search(rf"(?m)^- `{re.escape(path.name)}`", readme), f"{path.name} undocumented"
    used = {source for service in SERVICES.values() for source in _secret_paths(service)}
    assert used == set(COMPOSE["secrets"])


def test_every_mounted_secret_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a variable naming the file, or by Settings from /run/secrets (wijkbrug's code)."""
    from wijkbrug.settings import Settings

    reads_settings = {*WIJKBRUG_SERVICES, *AIRFLOW_SERVICES}
    for name, service in SERVICES.items():
        values = " ".join(_environment(service).values())
        for source, path in _secret_paths(service).items():
            if re.search(rf"{re.escape(path)}(?![\w.-])", values):
                continue
            assert name in reads_settings, f"{name}: nothing reads {path}"
            filename = path.removeprefix("/run/secrets/")
            field = filename.lower().removeprefix("wijkbrug_")
            assert field in Settings.model_fields and filename.lower() == f"wijkbrug_{field}", (
                f"{name}: Settings does not read {path}"
            )
            # And pydantic-settings really reads it (the environment would win: none here).
            monkeypatch.delenv(f"WIJKBRUG_{field.upper()}", raising=False)
            secrets_dir = tmp_path / name / source
            secrets_dir.mkdir(parents=True)
            (secrets_dir / filename).write_text("from-the-file\n", encoding="utf-8")
            assert getattr(Settings(_secrets_dir=secrets_dir), field) == "from-the-file", path


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


@pytest.mark.parametrize("name", WIJKBRUG_SERVICES)
def test_wijkbrug_services_run_a_real_subcommand(name: str) -> None:
    from wijkbrug.cli import _parser

    assert re.search(r'(?m)^ENTRYPOINT \["wijkbrug"\]$', WIJKBRUG_DOCKERFILE.read_text())
    service = SERVICES[name]
    entrypoint = service.get("entrypoint") or ["wijkbrug"]
    assert entrypoint[0] == "wijkbrug", name
    argv = [*entrypoint[1:], *(service.get("command") or [])]
    parser, words, path = _parser(), list(argv), ["wijkbrug"]
    while (subcommands := _subcommands(parser)) is not None:
        if not subcommands.required and (not words or words[0] not in subcommands.choices):
            break  # e.g. `wijkbrug web --port 8080` serves; `wijkbrug web user NAME` is an action
        if not words:
            # Only a job run by hand gets the rest of its command line at `docker compose run`.
            assert service.get("profiles"), f"{name}: `{' '.join(path)}` lacks a subcommand"
            break
        word = words.pop(0)
        assert word in subcommands.choices, (
            f"{name}: `{' '.join(path)}` has no {word!r} ({sorted(subcommands.choices)})"
        )
        path.append(word)
        parser = subcommands.choices[word]
    if not service.get("profiles"):
        try:
            _parser().parse_args(argv)
        except SystemExit as exit_:
            pytest.fail(f"{name}: `wijkbrug {' '.join(argv)}` does not parse ({exit_})")


def test_wijkbrug_health_checks_use_python_on_the_port_the_service_serves() -> None:
    checked = set()
    for name in set(WIJKBRUG_SERVICES) - _one_shot():
        service = SERVICES[name]
        command = " ".join(_healthcheck_command(service))
        # python:3.11-slim has no curl or wget.
        assert "python" in command and not re.search(r"\b(?:curl|wget)\b", command), name
        port = re.search(r"http://(?:127\.0\.0\.1|localhost):(\d+)/healthz\b", command).group(1)
        args = service.get("command") or []
        served = _environment(service).get("WIJKBRUG_METRICS_PORT") or (
            args[args.index("--port") + 1] if "--port" in args else None
        )
        assert port == served, f"{name} checks :{port} but serves :{served}"
        checked.add(name)
    assert {"stream", "web"} <= checked


def test_airflow_runs_on_an_image_built_with_the_project() -> None:
    pin = next(
        dep.split("==", 1)[1]
        for dep in PYPROJECT["project"]["optional-dependencies"]["airflow"]
        if dep.startswith("apache-airflow==")
    )
    wijkbrug_dockerfile = WIJKBRUG_DOCKERFILE.read_text()
    python = re.search(r"(?m)^FROM python:(\d+\.\d+)", wijkbrug_dockerfile).group(1)
    uid = re.search(r"useradd .*--uid (\d+)", wijkbrug_dockerfile).group(1)
    for name in AIRFLOW_SERVICES:
        service = SERVICES[name]
        if name in AIRFLOW_COMPONENTS:
            assert service["command"] == [AIRFLOW_COMPONENTS[name]], name
        dockerfile = _dockerfile(service)
        assert dockerfile not in (None, WIJKBRUG_DOCKERFILE), name
        text = dockerfile.read_text()
        assert re.search(
            rf"(?m)^FROM apache/airflow:{re.escape(pin)}-python{re.escape(python)}$", text
        ), f"{name}: not Airflow {pin} on Python {python}"
        assert re.search(
            r'(?m)^RUN pip install .*"apache-airflow==\$\{AIRFLOW_VERSION\}".*\[airflow\]', text
        ), f"{name}: the project is not installed (with its airflow extra)"
        assert re.search(r"(?m)^COPY .*\bdags /opt/airflow/dags$", text), name
        # The wijkbrug image's uid (to read its key files); Airflow's entrypoint wants group 0.
        assert service.get("user") == f"{uid}:0", name
    for name, service in SERVICES.items():
        assert not service.get("image", "").startswith("apache/airflow"), name
    env = _environment(SERVICES["airflow-scheduler"])
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname == "airflow-apiserver"


def test_airflow_services_have_what_the_dags_need() -> None:
    import json

    for name in AIRFLOW_SERVICES:
        env = _environment(SERVICES[name])
        assert "wijkbrug.steward_review.quarantine_payload" in env.get(
            "AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", ""
        ), name
        conn_id = env.get("WIJKBRUG_AIRFLOW_KAFKA_CONN", "wijkbrug_kafka")
        extra = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])["extra"]
        assert extra["enable.auto.commit"] is False and extra["group.id"], name
        assert extra["bootstrap.servers"] == env["WIJKBRUG_KAFKA_BOOTSTRAP"], name
        assert env["WIJKBRUG_NIGHTLY_START"], name
