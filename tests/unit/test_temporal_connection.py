"""How the API and worker reach Temporal: address and namespace from settings, API key and TLS
from Temporal's own variables, and an empty variable counts as unset."""

from __future__ import annotations

from assocflow.settings import Settings
from assocflow.temporal import connect


async def test_local_cluster_needs_nothing(monkeypatch):
    for name in ("TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH"):
        monkeypatch.setenv(name, "")  # as a compose file passes an unset variable
    client = await connect(
        Settings(temporal_address="temporal:7233", temporal_namespace="ns"), lazy=True
    )
    config = client.service_client.config
    assert (config.target_host, client.namespace) == ("temporal:7233", "ns")
    assert config.api_key is None and not config.tls


async def test_an_api_key_turns_tls_on(monkeypatch):
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret-key")
    client = await connect(Settings(temporal_address="ns.acct.tmprl.cloud:7233"), lazy=True)
    assert client.service_client.config.api_key == "secret-key"
    assert client.service_client.config.tls
