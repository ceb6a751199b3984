"""One settings object, read from ``DIALER_*`` environment variables.

The default is the embedded mode: a SQLite file under the data directory and no servers.
``DIALER_DATABASE_URL`` switches to PostgreSQL, ``DIALER_REDIS_URL`` to Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialer.fs_nodes import NodeConfig, NodeConfigError, parse_nodes
from dialer.trunks import TrunkConfig, TrunkConfigError, parse_trunks

_T = TypeVar("_T")

if TYPE_CHECKING:
    from dialer.campaigns.schedule import CallingRule

# The embedded simulator's address (``dialer simulator`` defaults).
DEFAULT_FS_NODES = "fs1=esl://:ClueCon@127.0.0.1:8021"


class ConfigError(Exception):
    """The configuration is broken; the message says which variable and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DIALER_", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default=Path("./data"), description="Where the embedded mode keeps files."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means SQLite under data_dir."
    )
    redis_url: str | None = Field(default=None, description="Redis URL; unset means in-process.")
    default_region: str = Field(default="US", description="Region for numbers without +CC.")
    import_block_mib: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="MiB the CSV parser reads at a time; also the largest record it accepts.",
    )
    import_reject_types: tuple[str, ...] = Field(
        default=("premium_rate",),
        description="Phone number types rejected at import as unsupported_type.",
    )
    fs_nodes: str = Field(
        default=DEFAULT_FS_NODES,
        description="FreeSWITCH nodes: JSON or 'name=esl://[:password@]host[:port][?max_channels"
        "=N&sps=M]' entries (see dialer.fs_nodes); the default is the embedded simulator.",
    )
    trunks_json: str | None = Field(
        default=None,
        alias="DIALER_TRUNKS",
        description='Trunks as JSON: [{"name": "carrier", "dial": "sofia/gateway/carrier/'
        '{number}", "max_channels": 100, "cps": 10}]; unset means one trunk "default".',
    )
    calling_rules_json: str | None = Field(
        default=None,
        alias="DIALER_CALLING_RULES",
        description="Stricter calling-hour rules by E.164 prefix, as JSON (see "
        "dialer.campaigns.schedule): applied on top of every campaign's window.",
    )
    redispatch_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="A queued attempt whose task was not claimed this long after it was "
        "dispatched is dispatched again (its message was lost with a killed worker or a "
        "restarted broker); a duplicate is harmless, the claim makes it a no-op.",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="PostgreSQL connections per process at most (greenlets share them).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port for each long-running process's /metrics (0 = any free port).",
    )
    ai_tools_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer keys the AI agent platform sends to POST /ai/tools, comma-separated "
        "(several while one is rotated); unset means the route refuses every request.",
    )
    recordings_url: str = Field(
        default="",
        description="Where the nodes' recordings directories are served over HTTP(S): a "
        "recording's URL is this, with {node} replaced by the node's name, then its path "
        "(dialer/<campaign>/<call uuid>.wav); unset, a call's recording is its path.",
    )
    webhook_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=120.0,
        description="Seconds a webhook receiver has to answer one try (connect and read).",
    )
    webhook_retry_hours: float = Field(
        default=24.0,
        gt=0.0,
        le=24.0 * 30,
        description="A webhook event is retried (exponential backoff with jitter) for this "
        "many hours after it was written or replayed, then dead-lettered.",
    )
    webhook_max_backoff: float = Field(
        default=600.0,
        ge=1.0,
        le=86400.0,
        description="The longest wait between two tries of a webhook event, in seconds.",
    )
    log_level: str = "INFO"

    @field_validator("recordings_url")
    @classmethod
    def _check_recordings_url(cls, value: str) -> str:
        from dialer.recordings import check_base

        return check_base(value)

    @field_validator("trunks_json")
    @classmethod
    def _check_trunks(cls, value: str | None) -> str | None:
        try:
            parse_trunks(value)
        except TrunkConfigError as exc:
            raise PydanticCustomError("trunks", "{problem}", {"problem": str(exc)}) from None
        return value

    @field_validator("calling_rules_json")
    @classmethod
    def _check_rules(cls, value: str | None) -> str | None:
        from dialer.campaigns.schedule import parse_calling_rules

        try:
            parse_calling_rules(value or "")
        except ValueError as exc:
            raise PydanticCustomError("rules", "{problem}", {"problem": str(exc)}) from None
        return value

    @property
    def calling_rules(self) -> list[CallingRule]:
        """The stricter rules of ``DIALER_CALLING_RULES`` (none when unset)."""
        from dialer.campaigns.schedule import parse_calling_rules

        try:
            return list(_parsed(parse_calling_rules, self.calling_rules_json or ""))
        except ValueError as exc:
            raise ConfigError(f"invalid configuration: DIALER_CALLING_RULES: {exc}") from None

    @property
    def trunks(self) -> list[TrunkConfig]:
        """The trunks of ``DIALER_TRUNKS`` (one ``default`` trunk when unset)."""
        try:
            return list(_parsed(parse_trunks, self.trunks_json))
        except TrunkConfigError as exc:
            raise ConfigError(f"invalid configuration: DIALER_TRUNKS: {exc}") from None

    def trunk(self, name: str) -> TrunkConfig:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        known = ", ".join(t.name for t in self.trunks)
        raise ConfigError(f"unknown trunk {name!r} (DIALER_TRUNKS has: {known})")

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

    @field_validator("fs_nodes")
    @classmethod
    def _check_fs_nodes(cls, value: str) -> str:
        try:
            _parse_fs_nodes(value)  # fail at start-up, not at the first call
        except ValueError as exc:
            raise PydanticCustomError("fs_nodes", "{problem}", {"problem": str(exc)}) from None
        return value

    @property
    def nodes(self) -> list[NodeConfig]:
        """The FreeSWITCH nodes of ``DIALER_FS_NODES``."""
        try:
            return list(_parsed(_parse_fs_nodes, self.fs_nodes))
        except ValueError as exc:  # only if built without validation (model_construct)
            raise ConfigError(f"invalid configuration: DIALER_FS_NODES: {exc}") from None

    @property
    def ai_tools_key_list(self) -> tuple[str, ...]:
        """The keys of ``DIALER_AI_TOOLS_KEYS``, blanks around them dropped."""
        keys = self.ai_tools_keys.get_secret_value().split(",")
        return tuple(key.strip() for key in keys if key.strip())

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'dialer.sqlite3').resolve()}"


def _parse_fs_nodes(value: str) -> list[NodeConfig]:
    try:
        nodes = parse_nodes(value)
    except NodeConfigError as exc:
        raise ValueError(str(exc)) from None
    if not nodes:
        raise ValueError("no FreeSWITCH node configured")
    return nodes


def normalise_database_url(url: str) -> str:
    """Point plain ``postgresql://`` URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=128)
def _parsed(parse: Callable[[Any], Sequence[_T]], text: Any) -> tuple[_T, ...]:
    """A setting's parsed value, once per text: workers read trunks and nodes for every call,
    and parsing the JSON each time showed in their profile. (Failures are not cached.)"""
    return tuple(parse(text))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(err['loc'])}: {_message(err['msg'])}"
                             for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    name = "_".join(str(p) for p in loc).upper()
    return name if name.startswith("DIALER_") else f"DIALER_{name}"


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")
