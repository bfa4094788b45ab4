"""`python -m server` or `assocflow api`: serve the API and the console with uvicorn, logging
JSON (host and port from settings). SIGINT or SIGTERM drains open requests, then the process
exits 0."""

from __future__ import annotations

import contextlib
from typing import Literal, NoReturn, TypedDict

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
            **SERVING,
            **proxy_options(settings),
        )


class Serving(TypedDict):
    access_log: bool
    log_config: None
    loop: Literal["uvloop"]
    http: Literal["httptools"]


# How uvicorn serves: no access log of its own (the API logs each request), the JSON logging
# configured by the caller kept; libuv's event loop and the C HTTP parser, named rather than
# left to "auto" so that a build without them fails at start instead of serving on asyncio's loop
# and the pure-Python parser at a tenth more CPU (docs/PERFORMANCE.md). The benchmarks' plain
# FastAPI apps serve the same way.
SERVING: Serving = {
    "access_log": False,
    "log_config": None,
    "loop": "uvloop",
    "http": "httptools",
}


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
