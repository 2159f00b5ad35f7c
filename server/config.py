"""Settings from the environment (pydantic-settings). A bad value fails fast with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handlers.pricing import PriceTableError, load_price_table
from handlers.providers import Provider, check_provider


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDFORGE_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CARDFORGE_DATABASE_URL")
    )
    data_dir: Path = Path(".cardforge")
    anthropic_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"), repr=False
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    model: str | None = None
    llm_provider: Provider | None = None
    llm_timeout_seconds: float = Field(default=90.0, gt=0, le=900)
    workers: int = Field(default=64, ge=0, le=10_000)
    llm_concurrency: int = Field(default=64, ge=1, le=10_000)
    rate_limit: int = Field(default=20, ge=1, le=100_000)
    max_attempts: int = Field(default=3, ge=1, le=20)
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    retry_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    retry_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    job_timeout_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # One offline generator call (one chunk) past this is killed: no input may hold a worker.
    offline_time_limit_seconds: float = Field(default=30.0, gt=0, le=3600)
    shutdown_grace_seconds: float = Field(default=25.0, ge=0, le=3600)
    user_concurrency: int = Field(default=2, ge=1, le=1000)
    retention_days: int = Field(default=30, ge=1, le=3650)
    poll_seconds: float = Field(default=2.0, gt=0, le=60)
    max_streams_per_user: int = Field(default=20, ge=1, le=100_000)
    keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    secure_cookies: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    price_table: Path | None = None  # a TOML file replacing handlers/model_prices.toml

    @field_validator("price_table")
    @classmethod
    def _price_table_loads(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                load_price_table(value)
            except PriceTableError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _provider_can_work(self) -> Settings:
        """Fail at start-up, naming the setting, not when the first job runs."""
        if self.llm_provider is not None:
            check_provider(self.llm_provider, api_key=self.anthropic_api_key)
        return self

    @property
    def provider(self) -> Provider:
        """No key means the offline provider, so a fresh checkout works with no setup."""
        if self.llm_provider is not None:
            return self.llm_provider
        return Provider.ANTHROPIC if self.anthropic_api_key else Provider.OFFLINE


class SettingsError(Exception):
    """One human line naming the bad setting."""


def _env_name(field: str) -> str:
    """The environment variable a user sets for ``field`` (pydantic reports field names)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if field.isupper():
        return field
    return f"CARDFORGE_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            raise SettingsError(f"invalid configuration: {message}") from None
        name = _env_name(str(first["loc"][0]))
        raise SettingsError(f"invalid setting {name}: {message}") from None
