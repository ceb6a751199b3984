"""One settings object, read from ``DIALER_*`` environment variables.

The default is the embedded mode: a SQLite file under the data directory and no servers.
``DIALER_DATABASE_URL`` switches to PostgreSQL, ``DIALER_REDIS_URL`` to Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """The configuration is broken; the message says which variable and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIALER_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"), description="Where the embedded mode keeps files."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means SQLite under data_dir."
    )
    redis_url: str | None = Field(default=None, description="Redis URL; unset means in-process.")
    default_region: str = Field(default="US", description="Region for numbers without +CC.")
    import_chunk_rows: int = Field(default=65_536, ge=1, le=10_000_000)
    import_reject_types: tuple[str, ...] = Field(
        default=("premium_rate",),
        description="Phone number types rejected at import as unsupported_type.",
    )
    log_level: str = "INFO"

    @field_validator("default_region")
    @classmethod
    def _region_upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("import_reject_types", mode="before")
    @classmethod
    def _split_types(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'dialer.sqlite3').resolve()}"


def normalise_database_url(url: str) -> str:
    """Point plain ``postgresql://`` URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DIALER_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
