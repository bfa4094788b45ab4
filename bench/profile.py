"""Where a lifecycle's CPU goes, by process and by step.

The worker and the API are sampled with py-spy while lifecycles run (non-blocking, so the
processes are not paused); each sample's stack is attributed twice: to the step of assocflow it
serves (its innermost frame that names one: STEPS) and to the code it was in
(its innermost frame's package). The Temporal server is written in Go: what it does per lifecycle
is read from the history (events by type, search-attribute updates), and its CPU is measured.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

# A frame in py-spy's raw (collapsed) output: "function (path/to/file.py:line)".
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::\d+)?\)$")

# Each sample goes to the step of its innermost frame that names one: what the work was for.
# A library call made by assocflow's code counts to that code (the account check's SQL is the
# account check's), a framework's own work to the framework, a middleware's to the middleware.
STEPS: tuple[tuple[str, str, str | None], ...] = (
    ("authentication", "api/deps.py", "principal"),
    ("authentication", "api/idempotency.py", "_caller"),
    ("authentication", "application/identity.py", None),
    ("rate limit", "application/guards.py", "within_rate"),
    ("account check (API)", "application/requests.py", "_account_check"),
    ("the association's read (API)", "application/requests.py", "_association_to_act_on"),
    ("decide: the request's read (API)", "store/requests.py", "for_decision"),
    ("submit: start the workflow, await its admission", "workflows/starter.py", "submit"),
    ("submit: start the workflow, await its admission", "workflows/gateway.py", "submit"),
    ("decide: send the Update, await its answer", "workflows/starter.py", "decide"),
    ("decide: send the Update, await its answer", "workflows/gateway.py", "decide"),
    ("use case, other", "application/", None),
    ("idempotency", "api/idempotency.py", None),
    ("rate limit headers", "api/ratelimits.py", None),
    ("observability: access log, metrics", "api/observability.py", None),
    ("route, other", "api/", None),
    ("activity: accept the request", "activities/requests.py", "accept_request"),
    ("activity: settle the request", "activities/requests.py", "settle_request"),
    ("activities, other", "activities/", None),
    ("workflow: what operators see", "workflows/operators.py", None),
    ("workflow code", "workflows/request.py", None),
    ("payload conversion", "temporalio/converter", None),
    ("workflow activation (SDK)", "temporalio/worker/_workflow_instance.py", None),
    ("workflow task handling (SDK)", "temporalio/worker/_workflow.py", None),
    ("activity handling (SDK)", "temporalio/worker/_activity.py", None),
    ("response: JSON, headers", "fastapi/routing.py", "serialize_response"),
    ("FastAPI routing and validation", "fastapi/", None),
    ("Starlette middleware", "starlette/", None),
    ("HTTP server (uvicorn, httptools)", "uvicorn/", None),
)
# When no frame names a step: the innermost of these.
FALLBACK: tuple[tuple[str, str, str | None], ...] = (
    ("Temporal client calls", "temporalio/client", None),
    ("Temporal core bridge", "temporalio/bridge/", None),
    ("logging", "logging/", None),
    ("event loop", "asyncio/", None),
    ("event loop", "uvloop/", None),
    ("threads", "threading.py", None),
    ("threads", "concurrent/futures", None),
)

# The innermost frame's package: what the time was spent in.
CODE: tuple[tuple[str, str], ...] = (
    ("psycopg", "psycopg"),
    ("pydantic", "pydantic"),
    ("temporalio", "temporalio"),
    ("protobuf", "google/protobuf"),
    ("FastAPI", "fastapi/"),
    ("Starlette", "starlette/"),
    ("uvicorn", "uvicorn/"),
    ("structlog", "structlog/"),
    ("logging", "logging/"),
    ("json", "json/"),
    ("asyncio", "asyncio/"),
    ("asyncio", "uvloop/"),
    ("threads", "concurrent/futures"),
    ("threads", "threading.py"),
    ("assocflow", "assocflow/"),
    ("assocflow", "api/"),
    ("assocflow", "application/"),
    ("assocflow", "store/"),
    ("assocflow", "domain/"),
    ("assocflow", "workflows/"),
    ("assocflow", "activities/"),
    ("assocflow", "contract/"),
    ("assocflow", "server/"),
)


def _frames(stack: str) -> list[tuple[str, str]]:
    found = []
    for raw in stack.split(";"):
        m = _FRAME.match(raw)
        found.append((m["function"], m["file"]) if m else (raw, ""))
    return found


def _in(file_part: str, file: str) -> bool:
    """Whether `file` is, or is in, `file_part` ("api/" is not fastapi's)."""
    return f"/{file_part}" in f"/{file}"


def _named(frame: tuple[str, str], steps: tuple[tuple[str, str, str | None], ...]) -> str | None:
    fn, file = frame
    for name, file_part, function in steps:
        if _in(file_part, file) and (function is None or fn.rpartition(".")[2] == function):
            return name
    return None


def step_of(stack: str) -> str:
    frames = _frames(stack)[::-1]
    for steps in (STEPS, FALLBACK):
        for frame in frames:
            if (name := _named(frame, steps)) is not None:
                return name
    return "other"


def code_of(stack: str) -> str:
    frames = _frames(stack)
    if not frames:
        return "other"
    _, leaf = frames[-1]
    for name, file_part in CODE:
        if _in(file_part, leaf):
            return name
    return "Python standard library" if "python3" in leaf else "other"


# Innermost frames that wait rather than work: a thread or the event loop with nothing to do,
# which py-spy's non-blocking sampling cannot always tell from running. Left out of the shares.
# On uvloop the loop is C: py-spy sees its waits as `Runner.run` with nothing inside, as it
# would the loop's own C work; the process's CPU time says they are nearly all waits (in a
# profile of 300 lifecycles, the worker's samples without them come to its CPU time within 5 %).
WAITING = (
    ("selectors.py", "select"),
    ("asyncio/runners.py", "Runner.run"),
    ("concurrent/futures/thread.py", "_worker"),
    ("", ""),
)


def waiting(stack: str) -> bool:
    fn, file = _frames(stack)[-1]
    return any(part in file and fn.endswith(name) for part, name in WAITING if part or not file)


def read_samples(path: Path) -> Iterator[tuple[str, int]]:
    """py-spy's raw format: one stack per line, frames joined by ';', then the sample count."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack, int(count)


def breakdown(samples: Iterable[tuple[str, int]], cpu_ms: float) -> dict[str, Any]:
    """Each step's and each package's share of a process's samples, as ms of CPU per lifecycle."""
    steps: collections.Counter[str] = collections.Counter()
    code: collections.Counter[str] = collections.Counter()
    idle = 0
    for stack, count in samples:
        if waiting(stack):
            idle += count
            continue
        steps[step_of(stack)] += count
        code[code_of(stack)] += count
    total = sum(steps.values()) or 1

    def shares(counter: collections.Counter[str]) -> dict[str, float]:
        return {k: round(cpu_ms * n / total, 2) for k, n in counter.most_common()}

    return {
        "samples": total,
        "waiting_samples": idle,
        "cpu_ms": cpu_ms,
        "by_step": shares(steps),
        "by_code": shares(code),
    }


@dataclass
class Recording:
    name: str
    path: Path
    proc: subprocess.Popen[bytes]


@contextmanager
def sampled(pids: dict[str, int], folder: Path, rate: int = 250) -> Iterator[dict[str, Path]]:
    """py-spy records each process while the block runs; yields where each profile will be."""
    spy = Path(sys.executable).parent / "py-spy"
    folder.mkdir(parents=True, exist_ok=True)
    recordings = []
    for name, pid in pids.items():
        path = folder / f"{name}.txt"
        cmd = [str(spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        cmd += ["--nonblocking", "--threads", "--output", str(path)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        recordings.append(Recording(name, path, proc))
    try:
        yield {r.name: r.path for r in recordings}
    finally:
        for r in recordings:
            # py-spy writes its profile when interrupted.
            os.kill(r.proc.pid, signal.SIGINT)
        for r in recordings:
            _, err = r.proc.communicate(timeout=60)
            if not r.path.exists():
                raise RuntimeError(f"py-spy wrote no profile of the {r.name}: {err.decode()}")


def strip_threads(samples: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    """Without --threads' first frame (the thread's name), so that stacks read the same."""
    for stack, count in samples:
        head, _, rest = stack.partition(";")
        yield (rest if head.startswith("thread (") else stack), count


async def history_of(client: Client, workflow_id: str) -> dict[str, Any]:
    """One lifecycle's history: its events by type, and the search-attribute updates."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds = collections.Counter(_event_type_name(event.event_type) for event in history.events)
    upserts = kinds.get("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", 0)
    return {"events": len(history.events), "by_type": dict(kinds.most_common()), "upserts": upserts}


def _event_type_name(event_type: int) -> str:
    return EventType.Name(EventType.ValueType(event_type)).removeprefix("EVENT_TYPE_")
