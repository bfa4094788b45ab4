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

import structlog
import temporalio.activity
import temporalio.workflow
from structlog.stdlib import ExtraAdder, ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

# Tokens and signing secrets by their prefix; an invitation link's token by its path.
_SECRETS = re.compile(r"(\baf_|\bwhsec_|/console/invitation/)[A-Za-z0-9_\-+/=]{8,}")


def _mask_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        if isinstance(value, str) and (
            "af_" in value or "whsec_" in value or "/console/invitation/" in value
        ):
            event[key] = _SECRETS.sub(r"\1[redacted]", value)
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
