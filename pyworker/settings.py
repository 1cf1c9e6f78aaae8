"""Settings: non-secret values from config.toml, secrets from the environment.

`load_config()` reads and validates `config.toml` (path overridable with
FLIRT_CONFIG); `load_secrets()` reads the environment and `.env`. Both raise
`SettingsError` with one line that names the offending key.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.toml"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signup(_Section):
    default_tier: str
    anonymous_tier: str = "free"  # anonymous sign-ins (auth.users.is_anonymous)
    bonus_credits: int = Field(ge=0)


class Reset(_Section):
    timezone: str
    hour: int = Field(ge=0, le=23)
    batch_size: int = Field(gt=0)
    cron_every_minutes: int = Field(gt=0, le=59)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Limits(_Section):
    max_pending_analyses: int = Field(gt=0)
    max_input_bytes: int = Field(gt=0)
    max_saved_replies: int = Field(default=1000, gt=0)


class Tier(_Section):
    name: str
    daily_credits: int = Field(ge=0)
    stripe_price_id: str = ""
    sort_order: int = 0


class Action(_Section):
    cost: int = Field(gt=0)
    max_input_chars: int = Field(ge=0)
    enabled: bool = True


class Pack(_Section):
    name: str
    credits: int = Field(gt=0)
    bonus_credits: int = Field(ge=0, default=0)
    price_cents: int = Field(gt=0)
    currency: str = Field(pattern=r"^[a-z]{3}$")
    stripe_price_id: str
    active: bool = True


class Subscriptions(_Section):
    fallback_tier: str


class Worker(_Section):
    concurrency: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lease_seconds: int = Field(gt=0)
    heartbeat_seconds: int = Field(gt=0)
    poll_seconds: float = Field(gt=0)
    max_attempts: int = Field(gt=0)
    retry_base_seconds: float = Field(gt=0, default=2.0)
    shutdown_grace_seconds: float = Field(ge=0)
    screenshot_cleanup_seconds: float = Field(gt=0, default=60.0)

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> Worker:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self


class MockAI(_Section):
    latency_ms: int = Field(ge=0, default=0)
    failure_rate: float = Field(ge=0, le=1, default=0.0)


class AI(_Section):
    provider: Literal["mock", "openai"]
    model: str
    timeout_seconds: float = Field(gt=0)
    # the most one answer may cost: a cut-off answer fails for good, it is not asked again
    max_output_tokens: int = Field(default=1000, gt=0)
    mock: MockAI = MockAI()


class Storage(_Section):
    screenshot_bucket: str
    local_dir: str = ".local/storage"
    max_screenshot_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    screenshot_types: list[str] = Field(
        default=["image/png", "image/jpeg", "image/webp", "image/gif"], min_length=1
    )


class Retention(_Section):
    input_days: int = Field(gt=0)


class Stripe(_Section):
    success_url: str
    cancel_url: str
    portal_return_url: str = "http://localhost:3000/account"
    webhook_tolerance_seconds: int = Field(gt=0)
    api_version: str


class Api(_Section):
    host: str
    port: int = Field(gt=0, lt=65536)
    cors_origins: list[str] = []
    max_webhook_bytes: int = Field(gt=0, default=262144)
    max_body_bytes: int = Field(gt=0, default=16384)
    # /docs, /redoc and /openapi.json; off in production (deploy/config.production.toml)
    docs: bool = True


class Dev(_Section):
    port: int = Field(gt=0, lt=65536, default=54322)
    database: str = "flirt"


class Config(_Section):
    signup: Signup
    reset: Reset
    limits: Limits
    tiers: dict[str, Tier]
    actions: dict[str, Action]
    packs: dict[str, Pack]
    subscriptions: Subscriptions
    worker: Worker
    ai: AI
    storage: Storage
    retention: Retention
    stripe: Stripe
    api: Api
    dev: Dev = Dev()

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        if self.signup.default_tier not in self.tiers:
            raise ValueError(f"signup.default_tier: unknown tier {self.signup.default_tier!r}")
        if self.signup.anonymous_tier not in self.tiers:
            raise ValueError(f"signup.anonymous_tier: unknown tier {self.signup.anonymous_tier!r}")
        if self.subscriptions.fallback_tier not in self.tiers:
            raise ValueError(
                f"subscriptions.fallback_tier: unknown tier {self.subscriptions.fallback_tier!r}"
            )
        return self


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    return f"{key}: {message}" if key else message


def config_path() -> Path:
    return Path(os.environ.get("FLIRT_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path | None = None) -> Config:
    """Read and validate config.toml; raise SettingsError naming the bad key."""
    path = path or config_path()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise SettingsError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"{path.name}: {_first_error(exc)}") from exc


@lru_cache(maxsize=1)
def get_config() -> Config:
    return load_config()


class Secrets(BaseSettings):
    """Secrets and deployment-specific values, from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str | None = None
    direct_url: str | None = None
    supabase_url: str | None = None
    supabase_service_role_key: str | None = None
    supabase_jwt_secret: str | None = None
    supabase_jwks_url: str | None = None
    stripe_secret_key: str | None = None
    # several comma-separated secrets are all accepted (rotating the webhook secret)
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    # /metrics on the API's port answers only with `Authorization: Bearer <METRICS_TOKEN>`
    metrics_token: str | None = None

    @property
    def session_url(self) -> str | None:
        """The connection for what needs a session: DIRECT_URL, else DATABASE_URL."""
        return self.direct_url or self.database_url

    def require(self, *names: str) -> None:
        """Raise SettingsError for the first of `names` that is not set."""
        for name in names:
            if not getattr(self, name):
                raise SettingsError(f"environment variable {name.upper()} is not set")


def load_secrets() -> Secrets:
    try:
        return Secrets()
    except ValidationError as exc:
        raise SettingsError(_first_error(exc)) from exc
