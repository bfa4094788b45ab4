"""assocflow's own Prometheus metrics (all named `assocflow_*`).

The API serves its metrics on `GET /metrics` (prometheus-client). The worker's metrics — the
Temporal SDK's and assocflow's business counters recorded in activities — are served by the
Temporal runtime's Prometheus exporter on ASSOCFLOW_WORKER_METRICS_ADDRESS.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
SUBMISSIONS = Counter(
    "assocflow_submissions_total",
    "Disassociation submits by initiator and result (accepted, check_failed, request_pending,"
    " request_limit_reached).",
    ["initiator", "result"],
)

# --- worker (the Temporal runtime's meter; names without the exporter's suffixes) -------------

REQUESTS_ACCEPTED = "assocflow_requests_accepted"
REQUESTS_SETTLED = "assocflow_requests_settled"
DECISION_LATENCY = "assocflow_decision_latency_seconds"
REMINDERS_SENT = "assocflow_reminders_sent"
WEBHOOK_DELIVERIES = "assocflow_webhook_deliveries"
# Requests the reconciler settled as cancelled, by cause (terminated, failed, timed_out, ...).
REQUESTS_RECONCILED = "assocflow_requests_reconciled"

# From submission to outcome: minutes to the whole response window (days).
DECISION_LATENCY_BUCKETS = [
    60,
    600,
    3600,
    6 * 3600,
    86400,
    2 * 86400,
    5 * 86400,
    10 * 86400,
    30 * 86400,
]
