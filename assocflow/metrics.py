"""The API's own Prometheus metrics (all named `assocflow_*`), served on `GET /metrics`
(prometheus-client). The worker's — the Temporal SDK's and assocflow's business counters recorded
by the workflow and activities — are named in contract/__init__.py and served by the Temporal
runtime's Prometheus exporter on ASSOCFLOW_WORKER_METRICS_ADDRESS.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- API (prometheus-client, the process's default registry) ---------------------------------

HTTP_REQUESTS = Counter(
    "assocflow_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "assocflow_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REFUSED_AT_CAPACITY = Counter(
    "assocflow_refused_at_capacity_total",
    "Submits and decisions refused at once (503) because the process had as many under way as"
    " it admits (assocflow_admission_limit), by work (submit, decide).",
    ["work"],
)
ADMISSION_LIMIT = Gauge(
    "assocflow_admission_limit",
    "Submits this process admits at once now (decisions: twice as many): at most"
    " ASSOCFLOW_MAX_IN_FLIGHT, lower after an admitted one took longer than ASSOCFLOW_ANSWER_WITHIN.",
)
SUBMISSIONS = Counter(
    "assocflow_submissions_total",
    "Submits by initiator, result (accepted, check_failed, request_pending,"
    " request_limit_reached) and kind of request (disassociation, type_change).",
    ["initiator", "result", "kind"],
)
