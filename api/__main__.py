"""`python -m api`: serve the API with uvicorn, logging JSON (host and port from settings)."""

from __future__ import annotations

import uvicorn

from assocflow import logs
from assocflow.settings import Settings


def main() -> None:
    settings = Settings()
    logs.configure()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        access_log=False,
        log_config=None,  # keep the JSON logging configured above
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
