"""`python -m server` or `assocflow api`: serve the API and the console with uvicorn, logging
JSON (host and port from settings). SIGINT or SIGTERM drains open requests, then the process
exits 0."""

from __future__ import annotations

import contextlib
from typing import NoReturn

import uvicorn

from assocflow import logs
from assocflow.process import run_main, stop_signals_interrupt
from assocflow.settings import Settings


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
            proxy_headers=True,
        )


def run() -> NoReturn:
    logs.configure()
    run_main(serve)


if __name__ == "__main__":
    run()
