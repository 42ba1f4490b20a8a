"""Metrics (Prometheus), JSON logs with trace ids, and OpenTelemetry tracing with W3C propagation."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("crm_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
GRPC_REQUESTS = Counter("crm_grpc_requests_total", "gRPC calls", ["service", "method", "code"])
GRPC_LATENCY = Histogram("crm_grpc_request_duration_seconds", "gRPC call latency", ["service", "method"])
OUTBOX_OLDEST_AGE = Gauge(
    "crm_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISHED = Counter("crm_outbox_published_total", "Outbox rows published", ["service"])
CONSUMER_MESSAGES = Counter(
    "crm_consumer_messages_total", "Consumed messages by outcome", ["service", "consumer", "outcome"]
)
CONSUMER_LAG = Gauge("crm_consumer_lag", "Messages pending for a durable consumer", ["service", "consumer"])
CELERY_TASKS = Counter("crm_celery_tasks_total", "Celery task outcomes", ["service", "task", "state"])
GROUP_COMMIT_BATCH = Histogram(
    "crm_group_commit_batch_size",
    "Requests that shared one transaction (crm_platform.batching.GroupCommit)",
    ["service", "name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)

_tracer_configured = False


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span = trace.get_current_span().get_span_context()
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if span.is_valid:
            doc["trace_id"] = f"{span.trace_id:032x}"
            doc["span_id"] = f"{span.span_id:016x}"
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Install a tracer provider once per process; spans are exported only when asked."""
    global _tracer_configured
    if _tracer_configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"crm-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":  # optional dependency, installed where a collector exists
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            logging.getLogger(__name__).warning("otlp exporter not installed; spans are not exported")
    trace.set_tracer_provider(provider)
    _tracer_configured = True


_tracer: tuple[object, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """The process's tracer, made once per tracer provider (``get_tracer`` builds a new tracer and
    its instrumentation scope on every call: ~2% of a REST create's CPU when called per request)."""
    global _tracer
    provider = trace.get_tracer_provider()
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, trace.get_tracer("crm"))
    return _tracer[1]


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def span_from_headers(
    name: str, headers: dict[str, str], kind: trace.SpanKind = trace.SpanKind.CONSUMER
) -> Iterator[trace.Span]:
    """Continue the producer's trace (W3C traceparent) for a consumed message or task."""
    ctx = extract(headers)
    token = otel_context.attach(ctx)
    try:
        with tracer().start_as_current_span(name, kind=kind) as span:
            yield span
    finally:
        otel_context.detach(token)
