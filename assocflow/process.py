"""How an assocflow process ends: a complete, flushed shutdown, then an immediate exit.

The Temporal SDK runs a Rust runtime (its gRPC client, the Prometheus exporter, the thread that
forwards core logs into Python logging) whose threads the SDK gives no way to stop. When the
interpreter finalizes with those threads alive, one of them can take the GIL while Python is
tearing itself down, and the process aborts with "Fatal Python error: PyGILState_Release" instead
of exiting 0 (temporalio/sdk-python issue 300). So every process that has made a Temporal client
ends here once its own shutdown is complete (worker drained, pools closed): the exit handlers the
interpreter would run are run, every log line is flushed, and the process exits without
finalizing the interpreter, so no Rust thread can run into a half-destroyed one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_process(code: int = 0) -> NoReturn:
    """Run the exit handlers (logging's flush, embedded PostgreSQL's cleanup, ...), flush
    stdout and stderr, and end the process with `code` without finalizing the interpreter."""
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            # A closed or vanished stream has nothing left to flush.
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def exit_code(exc: SystemExit) -> int:
    """The status a SystemExit asks for (`sys.exit("message")` is 1, `sys.exit()` is 0)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def run_main(main: Callable[[], object]) -> NoReturn:
    """Run a process's `main` and end as `exit_process` does: 0 when it returns or was stopped
    with SIGINT or SIGTERM, the requested status on SystemExit, 1 on an error (logged, so the
    log keeps its format)."""
    stop_signals_interrupt()
    try:
        main()
        code = 0
    except KeyboardInterrupt:
        code = 0
    except SystemExit as exc:
        code = exit_code(exc)
    except ValidationError as refused:  # the configuration: its reasons, with no traceback
        reasons = "; ".join(_reason(error) for error in refused.errors())
        log.error("assocflow cannot start, the configuration is refused: %s", reasons)
        code = 2
    except Exception:
        log.exception("the process failed")
        code = 1
    exit_process(code)


def _reason(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()))
    setting = f"ASSOCFLOW_{where.upper()}: " if where else ""
    return f"{setting}{error.get('msg', '')}"


def stop_signals_interrupt() -> None:
    """SIGTERM, like SIGINT, raises KeyboardInterrupt wherever the process is (a server that
    handles them itself replaces this while it runs, and raises the signal again when it has
    shut down: it then ends here too)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler)


async def first_success(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    transient: tuple[type[BaseException], ...],
    max_delay: float = 30.0,
) -> T | None:
    """`attempt()` until it succeeds, waiting longer after each `transient` failure (1 s doubling
    to `max_delay`) and saying so in the log; None as soon as `stop` is set, even mid-attempt.

    A process started while a service it needs is down (Temporal, PostgreSQL) waits for it
    instead of exiting, and still stops at once when asked to.
    """
    delay = 1.0
    while not stop.is_set():
        trying = asyncio.ensure_future(attempt())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({trying, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not trying.done():
            trying.cancel()
            with contextlib.suppress(asyncio.CancelledError, *transient):
                await trying
            return None
        try:
            return trying.result()
        except transient as exc:
            log.warning("waiting for %s: %s (next try in %.0f s)", what, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, max_delay)
    return None


def run_command(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` for a command line's command: a stop (Ctrl-C, SIGTERM) cancels the command,
    lets its cleanups run, and ends the process with status 0, whatever the cancellation turned
    into on its way out (click would call a KeyboardInterrupt an abort and exit 1; the Temporal
    client reports a cancelled call as its own error)."""
    stopped = False

    async def stoppable() -> T:
        main = asyncio.current_task()
        assert main is not None

        def stop() -> None:
            nonlocal stopped
            stopped = True
            main.cancel()

        for sig in STOP_SIGNALS:
            asyncio.get_running_loop().add_signal_handler(sig, stop)
        return await coro

    try:
        return asyncio.run(stoppable())
    except BaseException:
        if stopped:
            raise SystemExit(0) from None
        raise
