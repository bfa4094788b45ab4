"""Structured JSON logs for the API and the worker (structlog over the standard library).

Each line is one JSON object with `timestamp`, `level`, `logger`, `event`, whatever the code bound
(request id, caller, account and request ids) and, from Temporal's loggers, the workflow or
activity it came from. Tokens and signing secrets never belong in a log; as a last guard, anything
shaped like one is masked.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog
import temporalio.activity
import temporalio.workflow
from structlog.stdlib import ExtraAdder, ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

# Tokens and signing secrets by their prefix; an invitation link's token by its path.
_SECRETS = re.compile(r"(\baf_|\bwhsec_|/console/invitation/)[A-Za-z0-9_\-+/=]{8,}")


# Secrets of what is being done now (a request's invitation token), masked wherever they appear:
# in an error's message or traceback as much as in a path.
_SECRETS_NOW: ContextVar[tuple[str, ...]] = ContextVar("assocflow_log_secrets", default=())


@contextmanager
def redacting(*secrets: str) -> Iterator[None]:
    """Mask `secrets` in every log line written inside (in this task and those it starts)."""
    reset = _SECRETS_NOW.set(_SECRETS_NOW.get() + tuple(s for s in secrets if s))
    try:
        yield
    finally:
        _SECRETS_NOW.reset(reset)


def _mask_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    now = _SECRETS_NOW.get()
    for key, value in event.items():
        if not isinstance(value, str):
            continue
        for secret in now:
            value = value.replace(secret, "[redacted]")
        if "af_" in value or "whsec_" in value or "/console/invitation/" in value:
            value = _SECRETS.sub(r"\1[redacted]", value)
        event[key] = value
    return event


def configure(level: str = "INFO") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = ProcessorFormatter(
        foreign_pre_chain=[*shared, ExtraAdder()],
        processors=[
            ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_secrets,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Uvicorn's own loggers go through the same handler; its access log is replaced by ours.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Temporal puts the workflow/activity info in `extra` already; keep the messages clean.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False


def get(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
