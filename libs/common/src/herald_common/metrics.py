"""Prometheus metrics with the names SPEC.md fixes, defined once so every service exposes the same names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EMAILS = Counter("herald_emails_total", "Emails by outcome", ["result"])
BATCHES = Counter("herald_batches_total", "Email-job batches by outcome", ["result"])
QUEUE_DEPTH = Gauge("herald_queue_depth", "Approximate messages waiting in a queue", ["queue"])
SES_EVENTS = Counter("herald_ses_events_total", "SES events ingested by type", ["type"])
SEND_DURATION = Histogram(
    "herald_send_duration_seconds",
    "Time of one SES send call",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS = Counter("herald_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "herald_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
