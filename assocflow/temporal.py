"""Connecting to Temporal the same way from the API, the worker and the tools."""

from __future__ import annotations

import logging
import os

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)
from temporalio.service import RPCError, RPCStatusCode

from assocflow.settings import Settings
from contract import DECISION_LATENCY, DECISION_LATENCY_BUCKETS, SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


def runtime(metrics_address: str | None = None) -> Runtime:
    """A Temporal runtime whose core logs go through Python logging (so they are JSON like the
    rest) and that, given an address, serves Prometheus metrics there."""
    metrics = (
        PrometheusConfig(
            bind_address=metrics_address,
            histogram_bucket_overrides={DECISION_LATENCY: DECISION_LATENCY_BUCKETS},
        )
        if metrics_address
        else None
    )
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter="WARN",
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=metrics,
        )
    )


# Where a client connects when neither Temporal's configuration nor the settings name a cluster.
LOCAL_TEMPORAL = "127.0.0.1:7233"


def connect_config(settings: Settings) -> ClientConnectConfig:
    """Client.connect's arguments from Temporal's own environment configuration: the profile
    (TEMPORAL_PROFILE, default "default") of the TOML file (TEMPORAL_CONFIG_FILE, or the
    platform's default location) with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS_* over it. Only what assocflow's settings set explicitly overrides that."""
    # An empty variable (as a compose file passes an unset one) means "not set", not "".
    config = ClientConfig.load_client_connect_config(
        override_env_vars={name: value for name, value in os.environ.items() if value}
    )
    if settings.temporal_address:
        config["target_host"] = settings.temporal_address
    if settings.temporal_namespace:
        config["namespace"] = settings.temporal_namespace
    config.setdefault("target_host", LOCAL_TEMPORAL)
    return config


async def connect(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    """A client for the configured cluster (see `connect_config`): a Temporal Cloud namespace or
    any other cluster needs no assocflow-specific setting."""
    return await Client.connect(
        **connect_config(settings),
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime or Runtime.default(),
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register assocflow's search attributes that the namespace lacks; returns those added.

    A concurrent registration by another worker ends in "already exists", which is success. A
    server that cannot list search attributes (the time-skipping test server) is asked to add
    them all.
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    # The SDK's enum shares its numbers with the API's IndexedValueType.
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if (
            err.status != RPCStatusCode.ALREADY_EXISTS
            and "already exists" not in err.message.lower()
        ):
            raise
        return []
    log.info("registered search attributes %s", sorted(missing))
    return sorted(missing)
