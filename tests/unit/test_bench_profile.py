"""bench profile's attribution of py-spy samples (docs/PERFORMANCE.md, "Where a lifecycle's CPU
goes"): each sample to the step its innermost named frame serves."""

from __future__ import annotations

from bench import profile

ROOT = "run (uvicorn/server.py:10);__call__ (api/observability.py:40);__call__ (fastapi/applications.py:5)"
ROUTE = f"{ROOT};app (fastapi/routing.py:300);submit (application/requests.py:200)"


def test_a_library_call_counts_to_the_code_that_made_it():
    sql = (
        f"{ROUTE};_account_check (application/requests.py:110);execute (psycopg/cursor_async.py:9)"
    )
    assert profile.step_of(sql) == "account check (API)"
    update = (
        f"{ROUTE};TemporalGateway.submit (workflows/gateway.py:80);x (temporalio/client/_impl.py:3)"
    )
    assert profile.step_of(update) == "submit: start the workflow, await its admission"


def test_a_frameworks_own_work_is_the_frameworks_and_a_middlewares_the_middlewares():
    validation = f"{ROOT};solve (fastapi/dependencies/utils.py:500);validate (pydantic/main.py:1)"
    assert profile.step_of(validation) == "FastAPI routing and validation"
    access_log = f"{ROOT.rsplit(';', 1)[0]};info (logging/__init__.py:1500)"
    assert profile.step_of(access_log) == "observability: access log, metrics"


def test_waiting_is_left_out_and_the_shares_add_up_to_the_processs_cpu():
    idle = "run (asyncio/base_events.py:600);EpollSelector.select (selectors.py:468)"
    samples = [(idle, 50), (f"{ROUTE};_account_check (application/requests.py:110)", 30)]
    samples.append((f"{ROOT};app (fastapi/routing.py:300)", 10))
    found = profile.breakdown(samples, cpu_ms=8.0)
    assert found["waiting_samples"] == 50 and found["samples"] == 40
    assert found["by_step"] == {"account check (API)": 6.0, "FastAPI routing and validation": 2.0}
