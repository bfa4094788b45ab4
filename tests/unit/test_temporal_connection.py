"""How the API and worker reach Temporal: Temporal's own environment configuration (a TOML
profile, TEMPORAL_* variables, TLS and API key), overridden only by what assocflow's settings set
explicitly; an empty variable counts as unset."""

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


PROFILES = """
[profile.default]
address = "profile-host:7233"
namespace = "from-profile"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"
api_key = "profile-key"
"""


def _only_the_profile(monkeypatch, tmp_path, profile: str | None = None) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "temporal.toml"
    config.write_text(PROFILES)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    if profile is not None:
        monkeypatch.setenv("TEMPORAL_PROFILE", profile)


async def test_a_profile_decides_address_and_namespace(monkeypatch, tmp_path):
    _only_the_profile(monkeypatch, tmp_path)
    client = await connect(Settings(), lazy=True)
    assert client.service_client.config.target_host == "profile-host:7233"
    assert client.namespace == "from-profile"


async def test_a_named_profile_brings_its_api_key_and_tls(monkeypatch, tmp_path):
    _only_the_profile(monkeypatch, tmp_path, profile="cloud")
    client = await connect(Settings(), lazy=True)
    config = client.service_client.config
    assert (config.target_host, client.namespace) == ("ns.acct.tmprl.cloud:7233", "ns.acct")
    assert config.api_key == "profile-key" and config.tls


async def test_temporal_variables_override_the_profile(monkeypatch, tmp_path):
    _only_the_profile(monkeypatch, tmp_path)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env-host:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-env")
    client = await connect(Settings(), lazy=True)
    assert (client.service_client.config.target_host, client.namespace) == (
        "env-host:7233",
        "from-env",
    )


async def test_nothing_configured_means_the_local_dev_server(monkeypatch, tmp_path):
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "missing.toml"))
    client = await connect(Settings(), lazy=True)
    assert (client.service_client.config.target_host, client.namespace) == (
        "127.0.0.1:7233",
        "default",
    )
