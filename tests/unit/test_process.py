"""How assocflow processes end (assocflow/process.py): exit handlers run and output is flushed
before the process exits, and a stop signal is status 0 wherever it lands."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

COMMAND = """
import asyncio, atexit, sys
from assocflow.process import run_command, run_main

atexit.register(lambda: print("cleaned up", flush=True))

async def busy():
    print("started", flush=True)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        # What the Temporal client does with a cancelled call: its own error.
        raise RuntimeError("timeout or cancellation waiting for update") from None

run_main(lambda: run_command(busy()))
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_command_exits_0_after_its_cleanup(stop):
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(COMMAND)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.strip() == "cleaned up"


def test_a_failing_process_exits_1_and_says_why_in_its_log():
    code = "from assocflow.process import run_main\nrun_main(lambda: 1 / 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stderr


def test_sigterm_before_serving_stops_at_once():
    """Before a server installs its own handlers (imports, connecting), SIGTERM stops the
    process as Ctrl-C does."""
    code = (
        "import time\nfrom assocflow.process import run_main\n"
        "run_main(lambda: (print('starting', flush=True), time.sleep(60)))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "starting"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
