"""Configuration from the environment (`ASSOCFLOW_*`, `DATABASE_URL`, `TEMPORAL_*`)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.types import Policy, TimeoutOutcome


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSOCFLOW_", extra="ignore")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/assocflow",
        validation_alias=AliasChoices("DATABASE_URL", "ASSOCFLOW_DATABASE_URL"),
    )
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=10, ge=1)

    temporal_address: str = Field(
        default="127.0.0.1:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "ASSOCFLOW_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "ASSOCFLOW_TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "assocflow"

    # The lifecycle policy. Durations accept ISO 8601 ("P10D", "PT30S") or seconds ("30").
    response_window: timedelta = timedelta(days=10)
    reminder_before: timedelta = timedelta(hours=48)
    on_timeout_customer: TimeoutOutcome = TimeoutOutcome.AUTO_AGREE
    on_timeout_partner: TimeoutOutcome = TimeoutOutcome.EXPIRE
    request_limit: int = Field(default=1, ge=1)
    request_window_months: int = Field(default=3, ge=0)

    operator_token: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    webhook_allow_private: bool = False

    @field_validator("response_window", "reminder_before", mode="before")
    @classmethod
    def _seconds_or_iso(cls, value: object) -> object:
        """Environment values are strings: "30" means seconds, anything else ISO 8601."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("response_window", "reminder_before")
    @classmethod
    def _non_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("response_window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the response window must be longer than zero")
        return value

    def policy(self) -> Policy:
        """The lifecycle rules a new request is started with (fixed for its whole life)."""
        return Policy(
            response_window=self.response_window,
            reminder_before=self.reminder_before,
            on_timeout_customer=self.on_timeout_customer,
            on_timeout_partner=self.on_timeout_partner,
            request_limit=self.request_limit,
            request_window_months=self.request_window_months,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
