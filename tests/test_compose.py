"""The production deployment: docker-compose.yml, the Dockerfile and the settings they feed.

There is no Docker engine where these run, so they read the files and check their structure;
`docker compose config` runs too where the compose plugin is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from pydantic import ValidationError

from app.config import Environment, Settings
from ingest.blobstore import LocalStore, S3Store, get_blobstore
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

BACKING_SERVICES = ("postgres", "meilisearch", "redis")
APP_SERVICES = ("web", "worker")
SECRETS = ("POSTGRES_PASSWORD", "MEILI_MASTER_KEY", "READINGROOM_SECRET_KEY")
# What an operator must provide; a test stands in for them with these values.
DUMMY_ENV = {
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "MEILI_MASTER_KEY": "fedcba9876543210fedcba9876543210",
    "READINGROOM_SECRET_KEY": "a-long-random-value-for-the-tests",
    "READINGROOM_BASE_URL": "https://records.example.org",
}
SETTINGS_PREFIX = "READINGROOM_"

# `${NAME}`, `${NAME:?message}`, `${NAME:-default}`…; `$$` is Compose's escape for a literal `$`.
BRACED_REFERENCE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>[^}]*)\}")
BARE_REFERENCE = re.compile(r"(?<!\$)\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(autouse=True)
def _no_readingroom_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the process environment; these tests decide what is in it."""
    for name in list(os.environ):
        if name.startswith(SETTINGS_PREFIX):
            monkeypatch.delenv(name)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whether it is written as a mapping or a list."""
    raw = service.get("environment", {})
    if isinstance(raw, list):
        return dict(str(item).split("=", 1) for item in raw)
    return {str(name): str(value) for name, value in raw.items()}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Substitute `${NAME...}` as Compose does, for the forms this compose file may use."""

    def substitute(match: re.Match[str]) -> str:
        name, modifier = match["name"], match["modifier"]
        if env.get(name):
            return env[name]
        if modifier.startswith(":-"):
            return modifier[2:]
        raise KeyError(f"{name} is required: {modifier}")

    return BRACED_REFERENCE.sub(substitute, value).replace("$$", "$")


def volume_sources(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of each volume of a service, in short or long syntax."""
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
            yield source, target
        else:
            yield str(entry.get("source", "")), str(entry["target"])


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_file_uses_the_compose_spec(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_every_service_exists(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {*BACKING_SERVICES, *APP_SERVICES}


def test_every_image_is_pinned_to_a_tag(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image or "build" in service, f"{name} has neither an image nor a build"
        if image:
            repository, _, tag = str(image).rpartition(":")
            assert repository, f"{name}: image {image} has no tag"
            assert "/" not in tag, f"{name}: image {image} has no tag"
            assert tag != "latest", f"{name}: image {image} is not pinned"


def test_backing_images_are_the_supported_versions(services: dict[str, dict[str, Any]]) -> None:
    assert services["meilisearch"]["image"] == "getmeili/meilisearch:v1.21"
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert re.fullmatch(r"redis:7\.[0-9.]+-alpine", services["redis"]["image"])


def test_every_secret_is_required_from_the_environment() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    references = [(match["name"], match["modifier"]) for match in BRACED_REFERENCE.finditer(text)]
    assert {name for name, _ in references} >= set(SECRETS)
    for name, modifier in references:
        if name in SECRETS:
            assert modifier.startswith(":?"), f"${{{name}{modifier}}} must be ${{{name}:?…}}"
    unbraced = {match["name"] for match in BARE_REFERENCE.finditer(text)}
    assert not unbraced & set(SECRETS), "write secrets as ${NAME:?message}"


def test_app_services_share_one_production_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    web, worker = (environment_of(services[name]) for name in APP_SERVICES)
    assert web == worker
    assert web["READINGROOM_ENVIRONMENT"] == "production"
    assert web["READINGROOM_DATA_DIR"] == "/data"


def test_every_readingroom_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    known = {SETTINGS_PREFIX + field.upper() for field in Settings.model_fields}
    for name, service in services.items():
        for variable in environment_of(service):
            if variable.startswith(SETTINGS_PREFIX):
                assert variable in known, f"{name} sets {variable}, which Settings ignores"


def test_compose_environment_makes_valid_production_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in environment_of(services["web"]).items():
        monkeypatch.setenv(variable, interpolate(value, DUMMY_ENV))
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://readingroom:")
    assert settings.sqlalchemy_url.endswith("@postgres:5432/readingroom")
    assert settings.meili_url == "http://meilisearch:7700"
    assert settings.broker_url == "redis://redis:6379/0"
    assert settings.base_url == DUMMY_ENV["READINGROOM_BASE_URL"]


# What an operator who keeps originals in object storage provides.
STORAGE_ENV = {
    "READINGROOM_STORAGE_URL": "s3://foia-originals/readingroom",
    "READINGROOM_S3_ENDPOINT_URL": "https://s3.example.org",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "example-secret-access-key",
}
COMMENTED_SETTING = re.compile(r"^(?P<indent> +)# (?P<line>(?:READINGROOM|AWS)_[A-Z0-9_]+: .*)$")


def test_originals_stay_on_the_shared_volume_by_default(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in environment_of(services["web"]).items():
        monkeypatch.setenv(variable, interpolate(value, DUMMY_ENV))
    settings = Settings()
    assert settings.storage_url is None
    assert isinstance(get_blobstore(settings), LocalStore)
    assert settings.files_dir.is_relative_to("/data")


def test_commented_storage_options_keep_originals_in_s3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    uncommented = []
    for line in lines:
        match = COMMENTED_SETTING.match(line)
        uncommented.append(match["indent"] + match["line"] if match else line)
    assert uncommented != lines, "docker-compose.yml documents no storage options"
    loaded = yaml.safe_load("\n".join(uncommented))
    web, worker = (environment_of(loaded["services"][name]) for name in APP_SERVICES)
    assert web == worker
    # Each option is required once uncommented: a typo cannot silently fall back to the volume.
    with pytest.raises(KeyError, match="READINGROOM_STORAGE_URL"):
        interpolate(web["READINGROOM_STORAGE_URL"], DUMMY_ENV)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for variable, value in web.items():
        monkeypatch.setenv(variable, interpolate(value, DUMMY_ENV | STORAGE_ENV))
    settings = Settings()
    assert settings.storage_url == STORAGE_ENV["READINGROOM_STORAGE_URL"]
    assert settings.s3_endpoint_url == STORAGE_ENV["READINGROOM_S3_ENDPOINT_URL"]
    store = get_blobstore(settings)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == ("foia-originals", "readingroom")
    # The credentials reach boto3 through its own variables, never through Settings.
    credentials = boto3.session.Session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == STORAGE_ENV["AWS_ACCESS_KEY_ID"]
    assert store.client.meta.region_name == "us-east-1"


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable")
        assert healthcheck["test"] not in (["NONE"], "NONE")


def test_every_service_restarts_unless_stopped(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name


def test_every_named_volume_is_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, target in volume_sources(service):
            assert source, f"{name}: anonymous volume at {target}"
            if not source.startswith(("/", ".", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_app_services_share_the_stored_files(services: dict[str, dict[str, Any]]) -> None:
    web, worker = (dict(volume_sources(services[name])) for name in APP_SERVICES)
    files = {source for source, target in web.items() if target == "/data"}
    assert len(files) == 1
    assert worker.get(files.pop()) == "/data"


def test_app_services_wait_for_healthy_backing_services(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        for dependency in BACKING_SERVICES:
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)


def test_app_services_run_the_same_image(services: dict[str, dict[str, Any]]) -> None:
    web, worker = (services[name] for name in APP_SERVICES)
    assert web["build"] == worker["build"] == "."
    assert web["image"] == worker["image"]


def test_web_migrates_then_serves(services: dict[str, dict[str, Any]]) -> None:
    web = services["web"]
    command = " ".join(web["command"])
    assert command.index("readingroom migrate &&") < command.index(
        "readingroom serve --host 0.0.0.0 --port 8000"
    )
    assert "8000:8000" in web["ports"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(web["healthcheck"]["test"])


def test_workers_are_replicated(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert worker["command"] == ["readingroom", "worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "ports" not in worker


def test_meilisearch_runs_in_production_mode(services: dict[str, dict[str, Any]]) -> None:
    meilisearch = services["meilisearch"]
    environment = environment_of(meilisearch)
    assert environment["MEILI_ENV"] == "production"
    assert environment["MEILI_NO_ANALYTICS"] == "true"
    assert dict(volume_sources(meilisearch)).get("meilisearch") == "/meili_data"
    assert "/health" in " ".join(meilisearch["healthcheck"]["test"])


def test_only_web_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    assert [name for name, service in services.items() if "ports" in service] == ["web"]


def compose_command(tmp_path: Path) -> tuple[list[str], Path] | None:
    """The Compose that can check the file here, and the file to give it; None if none can.

    The ``docker compose`` plugin when it is installed (what operators run). Otherwise
    Debian's ``docker-compose`` 1.29 (``scripts/install-system-deps.sh`` installs it, as the
    plugin is in no Debian release): it checks the services, their schema and the same
    ``${NAME:?message}`` interpolation, but predates the Compose Specification's top-level
    ``name``, so it is given a copy without that one key (the project name, which
    ``test_project_is_named`` checks on its own).
    """
    if shutil.which("docker") is not None:
        version = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=60, check=False
        )
        if version.returncode == 0:
            return ["docker", "compose"], COMPOSE_FILE
    if shutil.which("docker-compose") is None:
        return None
    spec = yaml.safe_load(COMPOSE_FILE.read_text())
    spec.pop("name", None)
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(yaml.safe_dump(spec, sort_keys=False))
    return ["docker-compose"], copy


def test_project_is_named() -> None:
    assert yaml.safe_load(COMPOSE_FILE.read_text())["name"] == "readingroom"


@pytest.mark.parametrize("missing", [None, *SECRETS])
def test_docker_compose_accepts_the_file_only_with_every_secret(
    missing: str | None, tmp_path: Path
) -> None:
    found = compose_command(tmp_path)
    require(found is not None, "neither `docker compose` nor `docker-compose` is installed")
    assert found is not None
    command, compose_file = found
    env = {name: value for name, value in os.environ.items() if name not in DUMMY_ENV}
    env |= {name: value for name, value in DUMMY_ENV.items() if name != missing}
    # An empty env file: an operator's .env beside the file must not supply the secrets
    # (compose 1.29 refuses /dev/null: "not a file").
    empty_env = tmp_path / "empty.env"
    empty_env.touch()
    result = subprocess.run(
        [*command, "--env-file", str(empty_env), "-f", str(compose_file), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    if missing is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert missing in result.stderr


# --- Settings in production -----------------------------------------------------------------

PRODUCTION_SETTINGS: dict[str, Any] = {
    "environment": "production",
    "secret_key": DUMMY_ENV["READINGROOM_SECRET_KEY"],
    "meili_url": "http://meilisearch:7700",
    "meili_key": DUMMY_ENV["MEILI_MASTER_KEY"],
    "database_url": "postgresql+psycopg://readingroom:pw@postgres:5432/readingroom",
}


def test_production_settings_construct_with_real_values() -> None:
    settings = Settings(**PRODUCTION_SETTINGS)
    assert settings.environment is Environment.PRODUCTION


def test_production_settings_refuse_to_start_without_configuration() -> None:
    with pytest.raises(ValidationError, match="refusing to start in production") as raised:
        Settings(environment="production")
    message = str(raised.value)
    for variable in ("SECRET_KEY", "MEILI_URL", "MEILI_KEY", "DATABASE_URL"):
        assert f"READINGROOM_{variable}" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("secret_key", "changeme"),
        ("secret_key", "development"),
        ("secret_key", ""),
        ("meili_key", "masterKey"),
        ("meili_key", None),
        ("meili_url", None),
        ("database_url", None),
        ("database_url", "sqlite:///var/readingroom.sqlite3"),
    ],
)
def test_production_settings_refuse_a_default_or_missing_value(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"READINGROOM_{field.upper()}"):
        Settings(**(PRODUCTION_SETTINGS | {field: value}))


def test_development_settings_need_no_configuration() -> None:
    assert Settings().environment is Environment.DEVELOPMENT


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def test_image_is_slim_python_with_tesseract() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    installs = [arguments for keyword, arguments in instructions if "apt-get install" in arguments]
    assert len(installs) == 1
    install = installs[0]
    assert "--no-install-recommends" in install
    assert "rm -rf /var/lib/apt/lists/*" in install
    for package in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-spa"):
        assert package in install.split()


def test_image_installs_the_project_and_runs_as_another_user() -> None:
    instructions = dockerfile_instructions()
    assert any(keyword == "RUN" and "pip install" in args for keyword, args in instructions)
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000") in instructions
    assert instructions[-1] == (
        "CMD",
        '["readingroom", "serve", "--host", "0.0.0.0", "--port", "8000"]',
    )


def test_image_holds_no_meilisearch() -> None:
    for keyword, arguments in dockerfile_instructions():
        assert "meili" not in arguments.lower(), (keyword, arguments)
    ignored = DOCKERIGNORE.read_text(encoding="utf-8").split()
    # .tools/ holds the Meilisearch binary of the embedded mode; .env holds secrets.
    for entry in (".tools/", ".env", ".git", ".venv/", "var/"):
        assert entry in ignored
