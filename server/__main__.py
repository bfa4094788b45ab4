"""`python -m server` or `assocflow api`: serve the API and the console with uvicorn, logging
JSON (host and port from settings). SIGINT or SIGTERM drains open requests, then the process
exits 0."""

from __future__ import annotations

import contextlib
from typing import NoReturn, TypedDict

import uvicorn

from assocflow import logs
from assocflow.process import run_main, stop_signals_interrupt
from assocflow.settings import Settings, trusted_addresses


def serve() -> None:
    """Serve until SIGINT or SIGTERM (`assocflow api` runs this)."""
    settings = Settings()
    stop_signals_interrupt()
    # uvicorn drains open requests on the signal, then raises it again: a KeyboardInterrupt once
    # the server is done, which is the end of serving.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            "server.app:create_app",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            access_log=False,
            log_config=None,  # keep the JSON logging configured by the caller
            **proxy_options(settings),
        )


class ProxyOptions(TypedDict):
    proxy_headers: bool
    forwarded_allow_ips: list[str] | None


def proxy_options(settings: Settings) -> ProxyOptions:
    """X-Forwarded-For and X-Forwarded-Proto believed from ASSOCFLOW_TRUSTED_PROXIES only (the
    client's address counts toward per-address limits; anyone else could claim any address)."""
    trusted = trusted_addresses(settings.trusted_proxies)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def run() -> NoReturn:
    logs.configure()
    run_main(serve)


if __name__ == "__main__":
    run()
