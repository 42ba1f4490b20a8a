#!/usr/bin/env python3
"""Generate the chart's Grafana dashboards (dashboards/<svc>.json and dashboards/overview.json).

The JSON files are committed; edit this script and re-run it instead of editing them by hand:

    python deploy/helm/crm/hack/gen_dashboards.py          # rewrite the files
    python deploy/helm/crm/hack/gen_dashboards.py --check  # exit 1 if a file differs (CI drift check)

Standard library only. Every query uses only the metrics crm_platform exports (see README.md, "Metrics").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SERVICES = ["leads", "deals", "billing", "notify", "telephony"]
DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"
# gRPC codes that mean "the server failed" (client errors such as NOT_FOUND are not counted).
GRPC_SERVER_ERRORS = "(?i)unknown|internal|unavailable|data_?loss|deadline_?exceeded|unimplemented"
CELERY_FAILED = "(?i)failure|failed"


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = 0
        self.y = 0
        self.line_h = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append(
            {
                "id": self._id(),
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
            }
        )
        self.y += 1

    def newline(self) -> None:
        if self.x:
            self.y += self.line_h
        self.x = 0
        self.line_h = 0

    def add(self, panel: dict, w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.line_h = max(self.line_h, h)


def target(expr: str, legend: str = "", ref: str = "A") -> dict:
    return {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend or "__auto", "range": True}


def timeseries(title: str, targets: list[dict], unit: str = "short", description: str = "") -> dict:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, expr: str, unit: str, thresholds: list[tuple[str, float | None]]) -> dict:
    return {
        "type": "stat",
        "title": title,
        "datasource": DS,
        "targets": [target(expr, " ")],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": c, "value": v} for c, v in thresholds],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "value",
        },
    }


def quantiles(metric: str, sel: str) -> list[dict]:
    return [
        target(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{sel}}}[{RI}])))", f"p{p}", ref)
        for ref, q, p in (("A", "0.5", 50), ("B", "0.95", 95), ("C", "0.99", 99))
    ]


def variables(service_var: bool) -> dict:
    lst = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "options": [],
        },
        {
            "name": "namespace",
            "label": "Namespace",
            "type": "query",
            "datasource": DS,
            "query": {"query": "label_values(crm_http_requests_total, namespace)", "refId": "namespace"},
            "definition": "label_values(crm_http_requests_total, namespace)",
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {},
            "hide": 0,
            "sort": 1,
            "options": [],
        },
    ]
    if service_var:
        q = 'label_values(crm_http_requests_total{namespace=~"$namespace"}, service)'
        lst.append(
            {
                "name": "service",
                "label": "Service",
                "type": "query",
                "datasource": DS,
                "query": {"query": q, "refId": "service"},
                "definition": q,
                "refresh": 2,
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {},
                "hide": 0,
                "sort": 1,
                "options": [],
            }
        )
    return {"list": lst}


def dashboard(uid: str, title: str, panels: list[dict], service_var: bool, description: str) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["crm"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [
            {
                "title": "CRM dashboards",
                "type": "dashboards",
                "tags": ["crm"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": variables(service_var),
        "panels": panels,
    }


def service_dashboard(svc: str) -> dict:
    sel = f'namespace=~"$namespace", service="{svc}"'
    L = Layout()

    L.row("Overview")
    L.add(
        stat(
            "HTTP requests/s",
            f"sum(rate(crm_http_requests_total{{{sel}}}[{RI}]))",
            "reqps",
            [("green", None)],
        ),
        4,
        4,
    )
    L.add(
        stat(
            "HTTP 5xx ratio",
            f'sum(rate(crm_http_requests_total{{{sel}, status=~"5.."}}[{RI}])) '
            f"/ sum(rate(crm_http_requests_total{{{sel}}}[{RI}]))",
            "percentunit",
            [("green", None), ("orange", 0.01), ("red", 0.05)],
        ),
        4,
        4,
    )
    L.add(
        stat(
            "gRPC server-error ratio",
            f'sum(rate(crm_grpc_requests_total{{{sel}, code=~"{GRPC_SERVER_ERRORS}"}}[{RI}])) '
            f"/ sum(rate(crm_grpc_requests_total{{{sel}}}[{RI}]))",
            "percentunit",
            [("green", None), ("orange", 0.01), ("red", 0.05)],
        ),
        4,
        4,
    )
    L.add(
        stat(
            "Outbox oldest unpublished",
            f"max(crm_outbox_oldest_unpublished_age_seconds{{{sel}}})",
            "s",
            [("green", None), ("orange", 60), ("red", 300)],
        ),
        4,
        4,
    )
    L.add(
        stat(
            "Max consumer lag",
            f"max(crm_consumer_lag{{{sel}}})",
            "short",
            [("green", None), ("orange", 100), ("red", 1000)],
        ),
        4,
        4,
    )
    L.add(
        stat(
            "Celery failures/s",
            f'sum(rate(crm_celery_tasks_total{{{sel}, state=~"{CELERY_FAILED}"}}[{RI}]))',
            "short",
            [("green", None), ("red", 0.1)],
        ),
        4,
        4,
    )

    L.row("HTTP (REST edge): rate, errors, duration")
    L.add(
        timeseries(
            "HTTP requests/s by status",
            [target(f"sum by (status) (rate(crm_http_requests_total{{{sel}}}[{RI}]))", "{{status}}")],
            "reqps",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "HTTP 5xx ratio",
            [
                target(
                    f'sum(rate(crm_http_requests_total{{{sel}, status=~"5.."}}[{RI}])) '
                    f"/ sum(rate(crm_http_requests_total{{{sel}}}[{RI}]))",
                    "5xx",
                )
            ],
            "percentunit",
        ),
        8,
        8,
    )
    L.add(timeseries("HTTP latency", quantiles("crm_http_request_duration_seconds", sel), "s"), 8, 8)
    L.add(
        timeseries(
            "HTTP requests/s by route",
            [
                target(
                    f"sum by (method, route) (rate(crm_http_requests_total{{{sel}}}[{RI}]))",
                    "{{method}} {{route}}",
                )
            ],
            "reqps",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "HTTP p95 latency by route",
            [
                target(
                    "histogram_quantile(0.95, sum by (method, route, le) "
                    f"(rate(crm_http_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                    "{{method}} {{route}}",
                )
            ],
            "s",
        ),
        12,
        8,
    )

    L.row("gRPC: rate, errors, duration")
    L.add(
        timeseries(
            "gRPC requests/s by code",
            [target(f"sum by (code) (rate(crm_grpc_requests_total{{{sel}}}[{RI}]))", "{{code}}")],
            "reqps",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "gRPC server-error ratio",
            [
                target(
                    f'sum(rate(crm_grpc_requests_total{{{sel}, code=~"{GRPC_SERVER_ERRORS}"}}[{RI}])) '
                    f"/ sum(rate(crm_grpc_requests_total{{{sel}}}[{RI}]))",
                    "server errors",
                )
            ],
            "percentunit",
        ),
        8,
        8,
    )
    L.add(timeseries("gRPC latency", quantiles("crm_grpc_request_duration_seconds", sel), "s"), 8, 8)
    L.add(
        timeseries(
            "gRPC requests/s by method",
            [
                target(
                    f"sum by (method, code) (rate(crm_grpc_requests_total{{{sel}}}[{RI}]))",
                    "{{method}} {{code}}",
                )
            ],
            "reqps",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "gRPC p95 latency by method",
            [
                target(
                    "histogram_quantile(0.95, sum by (method, le) "
                    f"(rate(crm_grpc_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                    "{{method}}",
                )
            ],
            "s",
        ),
        12,
        8,
    )

    L.row("Events: outbox relay and JetStream consumers")
    L.add(
        timeseries(
            "Outbox oldest unpublished event age",
            [target(f"max(crm_outbox_oldest_unpublished_age_seconds{{{sel}}})", "oldest")],
            "s",
            "Age of the oldest outbox row not yet acknowledged by NATS. Grows when the relay is down.",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Outbox events published/s",
            [target(f"sum(rate(crm_outbox_published_total{{{sel}}}[{RI}]))", "published")],
            "ops",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Consumer lag (pending messages)",
            [target(f"max by (consumer) (crm_consumer_lag{{{sel}}})", "{{consumer}}")],
            "short",
            "num_pending of each durable pull consumer.",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Consumer messages/s by outcome",
            [
                target(
                    f"sum by (consumer, outcome) (rate(crm_consumer_messages_total{{{sel}}}[{RI}]))",
                    "{{consumer}} {{outcome}}",
                )
            ],
            "ops",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "Group commit: requests per transaction",
            [
                target(
                    f"sum by (name) (rate(crm_group_commit_batch_size_sum{{{sel}}}[{RI}])) / "
                    f"sum by (name) (rate(crm_group_commit_batch_size_count{{{sel}}}[{RI}]))",
                    "{{name}}",
                )
            ],
            "short",
            "Concurrent single writes (e.g. lead creates, SendNotification) that shared one transaction.",
        ),
        12,
        8,
    )

    L.row("Celery tasks")
    L.add(
        timeseries(
            "Celery tasks/s by state",
            [target(f"sum by (state) (rate(crm_celery_tasks_total{{{sel}}}[{RI}]))", "{{state}}")],
            "ops",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "Celery tasks/s by task",
            [
                target(
                    f"sum by (task, state) (rate(crm_celery_tasks_total{{{sel}}}[{RI}]))",
                    "{{task}} {{state}}",
                )
            ],
            "ops",
        ),
        12,
        8,
    )
    L.newline()
    return dashboard(
        f"crm-{svc}",
        f"CRM / {svc}",
        L.panels,
        service_var=False,
        description=f"RED metrics, outbox, consumers and Celery of the {svc} service.",
    )


def overview_dashboard() -> dict:
    sel = 'namespace=~"$namespace", service=~"$service"'
    L = Layout()
    L.row("HTTP (REST edge)")
    L.add(
        timeseries(
            "HTTP requests/s by service",
            [target(f"sum by (service) (rate(crm_http_requests_total{{{sel}}}[{RI}]))", "{{service}}")],
            "reqps",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "HTTP 5xx ratio by service",
            [
                target(
                    f'sum by (service) (rate(crm_http_requests_total{{{sel}, status=~"5.."}}[{RI}])) '
                    f"/ sum by (service) (rate(crm_http_requests_total{{{sel}}}[{RI}]))",
                    "{{service}}",
                )
            ],
            "percentunit",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "HTTP p95 latency by service",
            [
                target(
                    "histogram_quantile(0.95, sum by (service, le) "
                    f"(rate(crm_http_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                    "{{service}}",
                )
            ],
            "s",
        ),
        8,
        8,
    )
    L.row("gRPC")
    L.add(
        timeseries(
            "gRPC requests/s by service",
            [target(f"sum by (service) (rate(crm_grpc_requests_total{{{sel}}}[{RI}]))", "{{service}}")],
            "reqps",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "gRPC server-error ratio by service",
            [
                target(
                    "sum by (service) (rate(crm_grpc_requests_total"
                    f'{{{sel}, code=~"{GRPC_SERVER_ERRORS}"}}[{RI}])) '
                    f"/ sum by (service) (rate(crm_grpc_requests_total{{{sel}}}[{RI}]))",
                    "{{service}}",
                )
            ],
            "percentunit",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "gRPC p95 latency by service",
            [
                target(
                    "histogram_quantile(0.95, sum by (service, le) "
                    f"(rate(crm_grpc_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                    "{{service}}",
                )
            ],
            "s",
        ),
        8,
        8,
    )
    L.row("Events and background work")
    L.add(
        timeseries(
            "Outbox oldest unpublished age by service",
            [target(f"max by (service) (crm_outbox_oldest_unpublished_age_seconds{{{sel}}})", "{{service}}")],
            "s",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Outbox events published/s by service",
            [target(f"sum by (service) (rate(crm_outbox_published_total{{{sel}}}[{RI}]))", "{{service}}")],
            "ops",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Consumer lag by consumer",
            [target(f"max by (service, consumer) (crm_consumer_lag{{{sel}}})", "{{service}} {{consumer}}")],
            "short",
        ),
        8,
        8,
    )
    L.add(
        timeseries(
            "Consumer messages/s by outcome",
            [
                target(
                    f"sum by (service, outcome) (rate(crm_consumer_messages_total{{{sel}}}[{RI}]))",
                    "{{service}} {{outcome}}",
                )
            ],
            "ops",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "Celery tasks/s by service and state",
            [
                target(
                    f"sum by (service, state) (rate(crm_celery_tasks_total{{{sel}}}[{RI}]))",
                    "{{service}} {{state}}",
                )
            ],
            "ops",
        ),
        12,
        8,
    )
    L.add(
        timeseries(
            "Group commit: requests per transaction",
            [
                target(
                    f"sum by (service, name) (rate(crm_group_commit_batch_size_sum{{{sel}}}[{RI}])) / "
                    f"sum by (service, name) (rate(crm_group_commit_batch_size_count{{{sel}}}[{RI}]))",
                    "{{service}} {{name}}",
                )
            ],
            "short",
            "Concurrent single writes that shared one transaction (crm_platform.batching).",
        ),
        24,
        8,
    )
    L.newline()
    return dashboard(
        "crm-overview",
        "CRM / overview",
        L.panels,
        service_var=True,
        description="All CRM services side by side: RED metrics, outbox age, consumer lag, Celery.",
    )


def render_all() -> dict[str, str]:
    boards = {"overview.json": overview_dashboard()}
    boards.update({f"{svc}.json": service_dashboard(svc) for svc in SERVICES})
    return {name: json.dumps(b, indent=2, sort_keys=False) + "\n" for name, b in boards.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare with the committed files")
    args = ap.parse_args()
    drift = []
    for name, text in render_all().items():
        path = DASHBOARD_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                drift.append(name)
        else:
            path.write_text(text)
    if drift:
        print("dashboards differ from the generator: " + ", ".join(drift), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
