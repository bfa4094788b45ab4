"""Configuration from the environment (`ASSOCFLOW_*`, `DATABASE_URL`, `TEMPORAL_*`)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.types import LimitScope, Policy, TimeoutOutcome


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSOCFLOW_", extra="ignore")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/assocflow",
        validation_alias=AliasChoices("DATABASE_URL", "ASSOCFLOW_DATABASE_URL"),
    )
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=10, ge=1)

    # Unset, Temporal's own environment configuration decides (TEMPORAL_ADDRESS,
    # TEMPORAL_NAMESPACE, a TOML profile in TEMPORAL_CONFIG_FILE chosen by TEMPORAL_PROFILE, TLS
    # and API key); ASSOCFLOW_TEMPORAL_ADDRESS and ASSOCFLOW_TEMPORAL_NAMESPACE only override it.
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    task_queue: str = "assocflow"
    # Worker Versioning: the deployment the worker belongs to, and its build (empty: derived from
    # the workflow code, so a restart without a workflow change keeps its version).
    worker_deployment: str = "assocflow"
    build_id: str = ""

    # The lifecycle policy. Durations accept ISO 8601 ("P10D", "PT30S") or seconds ("30").
    response_window: timedelta = timedelta(days=10)
    reminder_before: timedelta = timedelta(hours=48)
    on_timeout_customer: TimeoutOutcome = TimeoutOutcome.AUTO_AGREE
    on_timeout_partner: TimeoutOutcome = TimeoutOutcome.EXPIRE
    request_limit: int = Field(default=1, ge=1)
    request_window_months: int = Field(default=3, ge=0)
    # What a side's requests count across: the customer's across all its associations (the
    # source document's rule), the partner's per association.
    customer_limit_scope: Literal[LimitScope.CUSTOMER, LimitScope.ASSOCIATION] = LimitScope.CUSTOMER
    partner_limit_scope: Literal[LimitScope.ASSOCIATION, LimitScope.PARTNER] = (
        LimitScope.ASSOCIATION
    )
    # Type change requests per association per request_window_months, whoever asks.
    type_change_limit: int = Field(default=1, ge=1)
    # How often the reconciler settles requests whose workflow closed without an outcome (zero: the
    # worker creates no schedule, e.g. where another deployment's worker runs it).
    reconcile_interval: timedelta = timedelta(minutes=1)

    operator_token: SecretStr | None = None

    # Where people reach assocflow (invitation links, the console's cookies: https makes them
    # Secure and __Host- prefixed). Unset: the API's own address,
    # http://ASSOCFLOW_API_HOST:ASSOCFLOW_API_PORT.
    public_url: str = ""
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto the API believes: comma-separated
    # addresses or networks ("172.30.80.10", "10.0.0.0/8"). Empty: none; the peer is the client.
    trusted_proxies: str = ""
    # The scheme people use at the proxy in front ("http" or "https"; empty: no proxy, or not
    # said). The API refuses to start when it disagrees with ASSOCFLOW_PUBLIC_URL: cookies would be
    # sent in the clear, or not at all. The compose proxy's public name (ASSOCFLOW_SITE, for
    # which Caddy serves https) says https.
    proxy_scheme: Literal["", "http", "https"] = ""
    site: str = ""
    # A console session ends after this long without a page, and this long after signing in.
    console_idle_timeout: timedelta = timedelta(minutes=30)
    console_session_lifetime: timedelta = timedelta(hours=12)
    # How long an invitation link (to set a password) works, once.
    invitation_ttl: timedelta = timedelta(days=7)

    # Abuse limits, per account: "<count>/<second|minute|hour>"; sign-in attempts per client
    # address and per email.
    rate_limit_submit: str = "20/minute"
    rate_limit_verification: str = "10/minute"
    rate_limit_sign_in: str = "10/minute"
    idempotency_ttl: timedelta = timedelta(hours=24)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Admission control: submits under way at once in one API process (decisions: twice as many);
    # one more is refused at once (503 temporarily_unavailable, Retry-After) instead of queueing.
    max_in_flight: int = Field(default=12, ge=1)
    # Below that ceiling the process admits less after an admitted request took longer than this
    # to answer from its arrival, and more again while answers come within it.
    answer_within: timedelta = timedelta(milliseconds=500)
    # Worker tuning: each running activity holds a database connection, so keep
    # ASSOCFLOW_DB_POOL_MAX near ASSOCFLOW_WORKER_MAX_CONCURRENT_ACTIVITIES.
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    # Where the worker serves Prometheus metrics ("host:port"; empty: none).
    worker_metrics_address: str = "127.0.0.1:9464"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    webhook_allow_private: bool = False
    # How many webhook endpoints one account may register.
    webhook_endpoints_max: int = Field(default=10, ge=1)
    # Encrypts webhook signing secrets and people's TOTP secrets at rest: Fernet keys,
    # comma-separated, newest first (the newest encrypts, any decrypts; `assocflow secrets rotate`
    # moves stored secrets to the newest). Webhooks and MFA are unavailable without one.
    encryption_key: SecretStr | None = None
    # The worker delivers webhooks unless this is off (to run the relay elsewhere).
    webhook_relay: bool = True
    webhook_max_attempts: int = Field(default=12, ge=1)
    webhook_backoff_base: timedelta = timedelta(seconds=5)
    webhook_backoff_cap: timedelta = timedelta(hours=2)
    webhook_timeout: timedelta = timedelta(seconds=10)
    # A delivery claimed by a relay that then died is tried again after this.
    webhook_lease: timedelta = timedelta(seconds=60)

    @field_validator("rate_limit_submit", "rate_limit_verification", "rate_limit_sign_in")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator(
        "response_window",
        "reminder_before",
        "idempotency_ttl",
        "webhook_backoff_base",
        "webhook_backoff_cap",
        "webhook_timeout",
        "webhook_lease",
        "reconcile_interval",
        "console_idle_timeout",
        "console_session_lifetime",
        "invitation_ttl",
        "answer_within",
        mode="before",
    )
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

    @field_validator(
        "console_idle_timeout", "console_session_lifetime", "invitation_ttl", "answer_within"
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("public_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be an http:// or https:// address, e.g. https://assocflow.example"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in trusted_addresses(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an address or a network (e.g. 172.30.80.10 or 10.0.0.0/8)"
                ) from None
        return value

    @model_validator(mode="after")
    def _public_url_defaults_to_the_api(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.api_host}:{self.api_port}"
        return self

    @model_validator(mode="after")
    def _public_url_matches_the_proxy(self) -> Settings:
        scheme = self.public_url.split("://", 1)[0]
        proxy = self.proxy_scheme or ("https" if self.site.strip() else "")
        if proxy and scheme != proxy:
            said_by = "ASSOCFLOW_PROXY_SCHEME" if self.proxy_scheme else "ASSOCFLOW_SITE"
            raise ValueError(
                f"ASSOCFLOW_PUBLIC_URL is {self.public_url} but people reach assocflow through a"
                f" proxy by {proxy} ({said_by}): set ASSOCFLOW_PUBLIC_URL to the {proxy}://"
                " address people use, or the console's cookies would be sent in the clear or not"
                " at all"
            )
        return self

    def policy(self) -> Policy:
        """The lifecycle rules a new request is started with (fixed for its whole life)."""
        return Policy(
            response_window=self.response_window,
            reminder_before=self.reminder_before,
            on_timeout_customer=self.on_timeout_customer,
            on_timeout_partner=self.on_timeout_partner,
            request_limit=self.request_limit,
            request_window_months=self.request_window_months,
            customer_limit_scope=self.customer_limit_scope,
            partner_limit_scope=self.partner_limit_scope,
            type_change_limit=self.type_change_limit,
        )


def trusted_addresses(value: str) -> list[str]:
    """ASSOCFLOW_TRUSTED_PROXIES as a list."""
    return [item.strip() for item in value.split(",") if item.strip()]


_RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, timedelta]:
    """ "20/minute" -> (20, 1 minute)."""
    count, _, unit = rate.partition("/")
    if not count.strip().isdigit() or int(count) < 1 or unit.strip() not in _RATE_UNITS:
        raise ValueError(f"{rate!r} is not a rate like '20/minute' (second, minute or hour)")
    return int(count), timedelta(seconds=_RATE_UNITS[unit.strip()])
