"""The one settings object. Every value comes from a ``READINGROOM_*`` environment variable.

The defaults make the embedded mode work with no configuration at all: SQLite, the files and
a managed Meilisearch all live under ``READINGROOM_DATA_DIR``. Tests build their own
``Settings`` and pass it in; nothing here knows about tests.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.services.ratelimit import DEFAULT_BURST, DEFAULT_PER_SECOND

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Where `make` installs the pinned Meilisearch binary when none is on PATH.
BUNDLED_MEILI_BINARY = PROJECT_ROOT / ".tools" / "meilisearch"

# API token holders are scripts paging through results on purpose: a higher limit, their own.
TOKEN_SEARCH_BURST = 120
TOKEN_SEARCH_PER_SECOND = 10.0

# Values that must never reach production: the ones in examples and compose files.
DEFAULT_SECRETS = frozenset({"", "changeme", "change-me", "secret", "masterKey", "development"})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Configuration of one readingroom installation."""

    model_config = SettingsConfigDict(env_prefix="READINGROOM_", extra="ignore")

    environment: Annotated[
        Environment, Field(description="`development` (default) or `production`.")
    ] = Environment.DEVELOPMENT
    data_dir: Annotated[
        Path,
        Field(description="Folder for the SQLite database, stored files and managed search."),
    ] = Path("var")
    database_url: Annotated[
        str | None,
        Field(description="SQLAlchemy URL; default is SQLite under the data folder."),
    ] = None
    meili_url: Annotated[
        str | None,
        Field(description="URL of an external Meilisearch; unset starts a managed one."),
    ] = None
    meili_key: Annotated[
        SecretStr | None,
        Field(description="API key for the external Meilisearch (needed with a URL)."),
    ] = None
    meili_binary: Annotated[
        Path | None,
        Field(description="Meilisearch binary for the managed mode; default PATH or .tools/."),
    ] = None
    index_prefix: Annotated[
        str,
        Field(description="Prefix of the Meilisearch index names.", pattern=r"^[A-Za-z0-9_-]*$"),
    ] = "readingroom_"
    secret_key: Annotated[
        SecretStr,
        Field(description="Signs session cookies; must be set to a random value in production."),
    ] = SecretStr("development")
    host: Annotated[str, Field(description="Address `readingroom serve` binds to.")] = "127.0.0.1"
    port: Annotated[int, Field(description="Port `readingroom serve` listens on.")] = 8000
    base_url: Annotated[
        str, Field(description="Public URL of the site, used in feeds, permalinks and oEmbed.")
    ] = "http://127.0.0.1:8000"
    broker_url: Annotated[
        str | None,
        Field(description="Redis URL of the Celery broker; unset runs jobs in-process."),
    ] = None
    ocr_languages: Annotated[
        str, Field(description="Default tesseract languages, joined with `+` (eng, spa).")
    ] = "eng"
    workers: Annotated[
        int, Field(description="Parallel OCR processes; 0 means one per core.", ge=0)
    ] = 0
    ocr_timeout_seconds: Annotated[
        float, Field(description="Time limit for OCR of one page.", gt=0)
    ] = 120.0
    pages_per_job: Annotated[
        int, Field(description="Pages per job when a large document is split across workers.", ge=1)
    ] = 50
    job_lease_seconds: Annotated[
        float,
        Field(description="A job whose worker is silent this long is given to another.", gt=0),
    ] = 120.0
    max_pages: Annotated[
        int,
        Field(
            description="Documents with more pages than this end failed, with the count in "
            "their reason; raise it and retry to process one.",
            ge=1,
        ),
    ] = 100_000
    max_upload_bytes: Annotated[
        int, Field(description="Largest file accepted for ingest or upload.", gt=0)
    ] = 2 * 1024**3
    storage_url: Annotated[
        str | None,
        Field(
            description="`s3://bucket/prefix` keeps originals in S3; unset keeps them in the "
            "data folder.",
            pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$",
        ),
    ] = None
    s3_endpoint_url: Annotated[
        str | None,
        Field(description="URL of an S3-compatible server (MinIO, SeaweedFS); unset is AWS."),
    ] = None
    search_rate_burst: Annotated[
        int, Field(description="Searches one address may make at once before it is slowed.", ge=1)
    ] = DEFAULT_BURST
    search_rate_per_second: Annotated[
        float, Field(description="Searches a second one address may keep making.", gt=0)
    ] = DEFAULT_PER_SECOND
    token_search_rate_burst: Annotated[
        int, Field(description="Searches one API token may make at once.", ge=1)
    ] = TOKEN_SEARCH_BURST
    token_search_rate_per_second: Annotated[
        float, Field(description="Searches a second one API token may keep making.", gt=0)
    ] = TOKEN_SEARCH_PER_SECOND
    trusted_proxies: Annotated[
        list[ipaddress.IPv4Network | ipaddress.IPv6Network],
        NoDecode,  # a comma-separated list, not JSON
        Field(
            description="Addresses or networks of the reverse proxies whose X-Forwarded-For "
            "is believed, comma-separated; empty believes none."
        ),
    ] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item for item in re.split(r"[,\s]+", value) if item]
        if not isinstance(value, list | tuple):
            return value  # pydantic refuses it with its own message
        networks = []
        for item in value:
            try:
                networks.append(ipaddress.ip_network(item))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{item!r} is not an IP address or network like 10.0.0.0/8 ({exc})"
                ) from exc
        return networks

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        if self.secret_key.get_secret_value() in DEFAULT_SECRETS:
            problems.append("READINGROOM_SECRET_KEY is missing or a default value")
        if self.meili_url is None:
            problems.append("READINGROOM_MEILI_URL must name the Meilisearch server")
        if self.meili_key is None or self.meili_key.get_secret_value() in DEFAULT_SECRETS:
            problems.append("READINGROOM_MEILI_KEY is missing or a default value")
        if self.database_url is None or self.database_url.startswith("sqlite"):
            problems.append("READINGROOM_DATABASE_URL must name a PostgreSQL database")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'readingroom.sqlite3'}"

    @property
    def files_dir(self) -> Path:
        return self.resolved_data_dir / "files"

    @property
    def meili_dir(self) -> Path:
        return self.resolved_data_dir / "meilisearch"

    @property
    def pages_index(self) -> str:
        return f"{self.index_prefix}pages"

    @property
    def documents_index(self) -> str:
        return f"{self.index_prefix}documents"

    def meili_binary_path(self) -> Path | None:
        """The binary for the managed mode: the setting, then PATH, then ``.tools/``."""
        if self.meili_binary is not None:
            return self.meili_binary
        found = shutil.which("meilisearch")
        if found:
            return Path(found)
        if BUNDLED_MEILI_BINARY.exists():
            return BUNDLED_MEILI_BINARY
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
