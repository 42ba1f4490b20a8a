"""Offline checks of the Helm chart deploy/helm/crm, its dashboards, alerts and the service images.

Runs without a cluster, Docker, PostgreSQL or NATS:
- values: values.yaml and ci/*-values.yaml validate against the strict values.schema.json (jsonschema and
  Helm's own validator); bad values files are rejected by both and by `helm lint`.
- Helm: the real Helm v4 Go SDK through helm-python-sdk (no `helm` binary is published on PyPI/npm for
  Linux): strict `lint`, `template` (Chart.render) and a client-side `install --dry-run` per scenario.
- Kubernetes: every rendered built-in object validates against the 1.27, 1.30 and 1.37 OpenAPI schemas in
  strict mode (kubernetes-validate); the prometheus-operator objects get structural checks here.
- PromQL: every dashboard query and alert expression parses (promql-parser) and uses only the metric names
  crm_platform exports; with promtool on PATH (Debian `prometheus`) the rendered rules also pass
  `promtool check rules` and unit tests (`promtool test rules`), else those two tests skip.
- Images: services/<svc>/Dockerfile, parsed with BuildKit's own parser (the `dockerfile` package), must
  match the contract the chart relies on (module, ports, numeric non-root user, uv sync of the workspace).
  Docker cannot build here, so the images themselves are not built by these tests.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import dockerfile
import helm_python as helm
import jsonschema
import kubernetes_validate
import promql_parser
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "crm"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
SERVICES = ["leads", "deals", "billing", "notify", "telephony"]
RELEASE, NAMESPACE = "crm", "crm"
KUBE_VERSIONS = ["1.27.0", "1.30.0", "1.37.0"]  # chart kubeVersion is >=1.27

# The metric names crm_platform exports (the contract the dashboards and alerts are written against).
METRICS = {
    "crm_http_requests_total",
    "crm_http_request_duration_seconds",
    "crm_grpc_requests_total",
    "crm_grpc_request_duration_seconds",
    "crm_outbox_oldest_unpublished_age_seconds",
    "crm_outbox_published_total",
    "crm_consumer_messages_total",
    "crm_consumer_lag",
    "crm_celery_tasks_total",
    "crm_group_commit_batch_size",
}
HISTOGRAMS = {
    "crm_http_request_duration_seconds",
    "crm_grpc_request_duration_seconds",
    "crm_group_commit_batch_size",
}
ALLOWED_SERIES = METRICS | {f"{h}_{s}" for h in HISTOGRAMS for s in ("bucket", "sum", "count")}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
ENV_CONTRACT = [
    "DATABASE_URL",
    "NATS_URL",
    "REDIS_URL",
    "HTTP_PORT",
    "GRPC_PORT",
    "ENV",
    "JWT_SECRET",
    "SERVICE_TOKEN",
    "LOG_LEVEL",
]


# ----------------------------------------------------------------------------------------------- helpers


def deep_merge(base: dict, over: dict) -> dict:
    """Helm-like coalescing of a values override onto the chart defaults (null deletes a key)."""
    out = copy.deepcopy(base)
    for key, val in over.items():
        if val is None:
            out.pop(key, None)
        elif isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_yaml(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


DEFAULTS = load_yaml(CHART / "values.yaml")
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RENDERED: dict[str, list[dict]] = {}


def render(values: dict | None = None, *, namespace: str = NAMESPACE) -> list[dict]:
    """`helm template`: a fresh Chart handle per render (Chart.render mutates the loaded chart).

    Results are memoised per (values, namespace); callers get their own deep copy.
    """
    key = json.dumps([values or {}, namespace], sort_keys=True)
    if key not in _RENDERED:
        with helm.Chart.load(CHART) as chart:
            out = chart.render(values or {}, name=RELEASE, namespace=namespace)
        docs = []
        for path, text in sorted(out.items()):
            if path.endswith(".yaml"):
                docs.extend(d for d in yaml.load_all(text, Loader=YAML_LOADER) if d)
        _RENDERED[key] = docs
    return copy.deepcopy(_RENDERED[key])


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def annotations(obj: dict) -> dict:
    return obj["metadata"].get("annotations") or {}


def container(obj: dict) -> dict:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] in ("Deployment", "Job") else obj["spec"]
    (c,) = spec["containers"]
    return c


def env_names(obj: dict) -> set[str]:
    return {e["name"] for e in container(obj)["env"]}


def metric_names(expr: str) -> set[str]:
    """Metric names used by a PromQL expression (Grafana variables substituted first)."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    expr = re.sub(r"\$\{?(\w+)\}?", r"\1", expr)
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def selectors(expr: str) -> list[dict[str, tuple[str, str]]]:
    """The label matchers of every vector selector: [{label: (op, value)}]."""
    out: list[dict[str, tuple[str, str]]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            out.append({m.name: (MATCH_OPS[str(m.op)], m.value) for m in node.matchers.matchers})
        return True

    promql_parser.walk(promql_parser.parse(re.sub(r"\$__rate_interval", "5m", expr)), visit)
    return out


def values_file(name: str) -> dict:
    return load_yaml(CHART / "ci" / name)


# ----------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize("path", [CHART / "values.yaml", *CI_FILES], ids=lambda p: p.name)
def test_values_files_validate_against_schema(path: Path) -> None:
    merged = deep_merge(DEFAULTS, load_yaml(path))
    jsonschema.Draft202012Validator(SCHEMA).validate(merged)
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(load_yaml(path))


def test_schema_is_strict_everywhere() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    loose: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                loose.append(where)
            for key, val in node.items():
                if key != "not":  # a negated subschema constrains; it does not list allowed keys
                    walk(val, f"{where}/{key}")
        elif isinstance(node, list):
            for i, val in enumerate(node):
                walk(val, f"{where}/{i}")

    walk(SCHEMA, "#")
    assert not loose, f"objects that accept unknown keys: {loose}"
    # every service has an entry, and only the five services are accepted
    assert sorted(SCHEMA["properties"]["services"]["properties"]) == sorted(SERVICES)
    assert sorted(DEFAULTS["services"]) == sorted(SERVICES)


BAD_VALUES = {
    "typo-top-level": {"servics": {}},
    "unknown-service": {"services": {"lead": {"replicaCount": 2}}},
    "typo-in-service": {"services": {"leads": {"replicas": 2}}},
    "wrong-type": {"services": {"leads": {"replicaCount": "two"}}},
    "bad-env": {"global": {"env": "staging"}},
    "pdb-both-bounds": {"services": {"leads": {"pdb": {"minAvailable": 1, "maxUnavailable": 1}}}},
    "empty-dashboard-label": {"metrics": {"dashboards": {"label": ""}}},
    "bad-duration": {"metrics": {"prometheusRule": {"rules": {"outboxAge": {"for": "5 minutes"}}}}},
    "bad-severity": {"metrics": {"prometheusRule": {"rules": {"http5xx": {"severity": "page"}}}}},
    "ratio-above-one": {"metrics": {"prometheusRule": {"rules": {"http5xx": {"ratio": 5}}}}},
    "bad-port": {"services": {"deals": {"grpcPort": 70000}}},
    "allow-from-unknown": {"services": {"deals": {"networkPolicy": {"allowFrom": ["gateway"]}}}},
    "bad-secret-name": {"services": {"billing": {"database": {"existingSecret": "Billing_DB"}}}},
    "bad-quantity": {"serviceDefaults": {"resources": {"limits": {"memory": "lots"}}}},
}


@pytest.mark.parametrize("bad", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_file_is_rejected(bad: dict, tmp_path: Path) -> None:
    path = tmp_path / "bad-values.yaml"
    path.write_text(yaml.safe_dump(bad))
    override = load_yaml(path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(deep_merge(DEFAULTS, override))
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(override)
    report = helm.lint(CHART, override, strict=True)
    assert report["errors"] or any(m["severity"] >= 3 for m in report["messages"]), report
    with pytest.raises(helm.HelmError):
        render(override)


def test_missing_database_secret_fails_render() -> None:
    with pytest.raises(helm.HelmError, match=r"database\.existingSecret is required"):
        render({"services": {"notify": {"database": {"existingSecret": ""}}}})


# ----------------------------------------------------------------------------------------------- helm


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("kube", ["v1.27.0", "v1.30.0"])
def test_helm_lint_strict(path: Path, kube: str) -> None:
    report = helm.lint(CHART, load_yaml(path), strict=True, namespace=NAMESPACE, kube_version=kube)
    assert report["errors"] == [], report
    # only informational findings (severity 1, e.g. "icon is recommended") are tolerated
    assert [m for m in report["messages"] if m["severity"] > 1] == [], report


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_client_dry_run_install_separates_hooks(path: Path) -> None:
    """Like `helm install --dry-run=client`: the release manifest holds no hooks (the migration Jobs)."""
    values = load_yaml(path)
    with helm.Config(namespace=NAMESPACE, storage_driver="memory") as cfg:
        rel = cfg.install(str(CHART), RELEASE, values, dry_run="client")
    assert rel["status"] == "pending-install"
    kinds = Counter(d["kind"] for d in yaml.safe_load_all(rel["manifest"]) if d)
    assert kinds["Job"] == 0, "migration Jobs must be hooks, not part of the release manifest"
    assert kinds["Deployment"] >= len(SERVICES)


def test_plain_job_mode_puts_jobs_in_the_release() -> None:
    with helm.Config(namespace=NAMESPACE, storage_driver="memory") as cfg:
        rel = cfg.install(str(CHART), RELEASE, {"migrations": {"useHelmHooks": False}}, dry_run="client")
    jobs = [d for d in yaml.safe_load_all(rel["manifest"]) if d and d["kind"] == "Job"]
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(f"crm-{s}-migrate-1" for s in SERVICES)


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_each_service_yields_deployment_service_and_migration_job(path: Path) -> None:
    docs = render(load_yaml(path))
    deployments, services, jobs = by_kind(docs, "Deployment"), by_kind(docs, "Service"), by_kind(docs, "Job")
    names = Counter((d["kind"], d["metadata"]["name"]) for d in docs)
    assert [k for k, n in names.items() if n > 1] == [], "duplicate objects"
    for svc in SERVICES:
        dep = deployments[f"crm-{svc}"]
        c = container(dep)
        assert c["command"] == ["python", "-m", f"crm_{svc}"] and c["args"] == ["app"]
        assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "grpc": 50051}
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {f"{svc.upper()}_{e}" for e in ENV_CONTRACT} <= env_names(dep)
        db = next(e for e in c["env"] if e["name"] == f"{svc.upper()}_DATABASE_URL")
        assert db["valueFrom"]["secretKeyRef"]["name"] == f"crm-{svc}-db"  # database per service
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["serviceAccountName"] == f"crm-{svc}"
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["app.kubernetes.io/component"] == svc
        assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

        service = services[f"crm-{svc}"]
        sel = service["spec"]["selector"]
        assert sel.items() <= pod_labels.items()
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8080, "grpc": 50051}
        # the Service must not select worker/beat pods of the same service
        for other in deployments.values():
            if other is not dep:
                assert not sel.items() <= other["spec"]["template"]["metadata"]["labels"].items()

        job = jobs[f"crm-{svc}-migrate"]
        assert container(job)["args"] == ["migrate"]
        assert container(job)["command"] == ["python", "-m", f"crm_{svc}"]
        assert annotations(job)["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_worker_and_beat() -> None:
    docs = render(values_file("default-values.yaml"))
    deployments = by_kind(docs, "Deployment")
    for svc in ["leads", "deals", "billing", "notify"]:
        worker, beat = deployments[f"crm-{svc}-worker"], deployments[f"crm-{svc}-beat"]
        assert container(worker)["args"] == ["worker"]
        assert container(beat)["args"] == ["beat"]
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        assert "ports" not in container(worker)
        assert {
            "CRM_WORKER_CONCURRENCY",
            f"{svc.upper()}_DATABASE_URL",
            f"{svc.upper()}_REDIS_URL",
        } <= env_names(worker)
        assert "CRM_WORKER_CONCURRENCY" not in env_names(beat)
    assert "crm-telephony-worker" not in deployments and "crm-telephony-beat" not in deployments
    # a one-off override wins over serviceDefaults, including `false`
    docs = render(
        {"services": {"leads": {"beat": {"enabled": False}}, "telephony": {"worker": {"enabled": True}}}}
    )
    deployments = by_kind(docs, "Deployment")
    assert "crm-leads-beat" not in deployments and "crm-leads-worker" in deployments
    assert "crm-telephony-worker" in deployments


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_rendered_objects_validate_against_kubernetes_schemas(path: Path) -> None:
    docs = render(load_yaml(path))
    seen_crds = set()
    for kube in KUBE_VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, kube, strict=True)
            except SchemaNotFoundError:
                assert doc["kind"] in CRD_KINDS, f"{doc['apiVersion']}/{doc['kind']} unknown to k8s {kube}"
                seen_crds.add(doc["kind"])
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"k8s {kube} {doc['kind']}/{doc['metadata']['name']}: {exc.path}: {exc.message}")
    if "all-features" in path.name:
        assert seen_crds == CRD_KINDS


# ----------------------------------------------------------------------------------------------- toggles


def test_defaults_leave_optional_objects_off() -> None:
    kinds = Counter(d["kind"] for d in render(values_file("default-values.yaml")))
    for kind in ["HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"]:
        assert kinds[kind] == 0, kind
    assert kinds["PodDisruptionBudget"] == len(SERVICES)
    assert kinds["ConfigMap"] == len(SERVICES) + 1  # dashboards


def test_all_features_turn_everything_on() -> None:
    docs = render(values_file("all-features-values.yaml"))
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["HorizontalPodAutoscaler"] == len(SERVICES)
    assert kinds["NetworkPolicy"] == 2 * len(SERVICES)
    assert kinds["PrometheusRule"] == 1
    assert by_kind(docs, "ConfigMap")["crm-extra"]["data"] == {"note": "rendered through tpl"}
    for name, dep in by_kind(docs, "Deployment").items():
        if not name.endswith(("-worker", "-beat")):
            assert "replicas" not in dep["spec"], f"{name}: HPA-managed Deployment must not set replicas"
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind(docs, "Deployment")
    image = container(by_kind(docs, "Deployment")["crm-leads"])["image"]
    assert image == "registry.example.com/acme/crm-leads:1.2.3"
    assert container(by_kind(docs, "Deployment")["crm-telephony"])["image"] == (
        "registry.example.com/acme/telephony-edge:1.2.4"
    )
    leads = by_kind(docs, "Deployment")["crm-leads"]
    assert {
        "LEADS_JWT_JWKS_URL",
        "LEADS_OTEL_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "LEADS_FORGOTTEN_AFTER_DAYS",
        "TZ",
    } <= env_names(leads)
    nats = next(e for e in container(leads)["env"] if e["name"] == "LEADS_NATS_URL")
    assert nats["valueFrom"]["secretKeyRef"] == {"name": "crm-nats", "key": "url"}
    billing_redis = next(
        e
        for e in container(by_kind(docs, "Deployment")["crm-billing"])["env"]
        if e["name"] == "BILLING_REDIS_URL"
    )
    assert billing_redis == {"name": "BILLING_REDIS_URL", "value": "redis://redis-billing:6379/0"}
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert pdbs["crm-leads"]["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": by_kind(docs, "Service")["crm-leads"]["spec"]["selector"]},
    }


def test_disabled_service_renders_nothing() -> None:
    docs = render(
        {
            "services": {"telephony": {"enabled": False}},
            "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
            "networkPolicy": {"enabled": True},
        }
    )
    leftovers = [
        f"{d['kind']}/{d['metadata']['name']}" for d in docs if "telephony" in json.dumps(d["metadata"])
    ]
    assert leftovers == []
    rule = next(iter(by_kind(docs, "PrometheusRule").values()))
    for r in rule["spec"]["groups"][0]["rules"]:
        assert "telephony" not in r["expr"]
    # the other services still call nobody that is gone
    assert "crm-telephony" not in json.dumps(by_kind(docs, "NetworkPolicy"))


def test_hpa_toggle_per_service() -> None:
    docs = render({"services": {"deals": {"hpa": {"enabled": True, "minReplicas": 3, "maxReplicas": 9}}}})
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler").values()
    assert hpa["metadata"]["name"] == "crm-deals"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    deps = by_kind(docs, "Deployment")
    assert "replicas" not in deps["crm-deals"]["spec"] and deps["crm-leads"]["spec"]["replicas"] == 2
    with pytest.raises(helm.HelmError, match="minReplicas > maxReplicas"):
        render({"services": {"deals": {"hpa": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}}})


def test_pdb_toggle() -> None:
    docs = render(
        {"serviceDefaults": {"pdb": {"enabled": False}}, "services": {"notify": {"pdb": {"enabled": True}}}}
    )
    assert list(by_kind(docs, "PodDisruptionBudget")) == ["crm-notify"]
    assert by_kind(docs, "PodDisruptionBudget")["crm-notify"]["spec"]["maxUnavailable"] == 1


def test_migration_hooks_and_their_service_account() -> None:
    docs = render()
    sas = by_kind(docs, "ServiceAccount")
    jobs = by_kind(docs, "Job")
    assert len(jobs) == len(SERVICES)
    for job in jobs.values():
        ann = annotations(job)
        assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "hook-succeeded" in ann["helm.sh/hook-delete-policy"]
        sa = sas[job["spec"]["template"]["spec"]["serviceAccountName"]]
        # pre-install hooks run before ordinary resources exist: the SA must be an earlier hook itself
        assert annotations(sa)["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(annotations(sa)["helm.sh/hook-weight"]) < int(ann["helm.sh/hook-weight"])


def test_migration_plain_job_mode() -> None:
    docs = render({"migrations": {"useHelmHooks": False}})
    jobs = by_kind(docs, "Job")
    assert sorted(jobs) == sorted(
        f"crm-{s}-migrate-1" for s in SERVICES
    )  # per revision: pod specs are immutable
    for job in jobs.values():
        ann = annotations(job)
        assert not any(k.startswith("helm.sh/hook") for k in ann)
        assert ann["argocd.argoproj.io/hook"] == "PreSync"
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert not any(
        k.startswith("helm.sh/hook") for k in annotations(by_kind(docs, "ServiceAccount")["crm-migrate"])
    )
    assert by_kind(render({"migrations": {"enabled": False}}), "Job") == {}


def test_dashboard_configmaps_and_label_toggle() -> None:
    docs = render(
        {
            "metrics": {
                "dashboards": {
                    "label": "grafana.example/dashboard",
                    "labelValue": "crm",
                    "namespace": "monitoring",
                }
            },
            "services": {"billing": {"enabled": False}},
        }
    )
    cms = by_kind(docs, "ConfigMap")
    assert sorted(cms) == sorted(
        f"crm-dashboard-{n}" for n in ["overview", "leads", "deals", "notify", "telephony"]
    )
    for name, cm in cms.items():
        assert cm["metadata"]["labels"]["grafana.example/dashboard"] == "crm"
        assert cm["metadata"]["namespace"] == "monitoring"
        ((_key, text),) = cm["data"].items()
        board = json.loads(text)
        assert board == json.loads(
            (CHART / "dashboards" / f"{name.removeprefix('crm-dashboard-')}.json").read_text()
        )
        assert len(text) < 900_000  # ConfigMaps are limited to 1 MiB
    assert by_kind(render({"metrics": {"dashboards": {"enabled": False}}}), "ConfigMap") == {}


def test_service_monitors_scrape_the_app_services() -> None:
    docs = render(values_file("all-features-values.yaml"))
    monitors, services = by_kind(docs, "ServiceMonitor"), by_kind(docs, "Service")
    assert set(monitors) == {f"crm-{s}" for s in SERVICES} | {
        f"crm-{s}-worker" for s in ["leads", "deals", "billing"]
    }
    for name, sm in monitors.items():
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert set(sm["spec"]) <= {"jobLabel", "namespaceSelector", "selector", "endpoints"}
        target = services[name]
        assert sm["spec"]["selector"]["matchLabels"].items() <= target["metadata"]["labels"].items()
        port_names = {p["name"] for p in target["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            assert set(ep) <= {"port", "path", "interval", "scrapeTimeout", "honorLabels"}
            assert ep["port"] in port_names and ep["path"] == "/metrics"
            # crm_* metrics carry their own `service` label: without honorLabels Prometheus renames it to
            # exported_service and every dashboard/alert selector on service="..." matches nothing
            assert ep["honorLabels"] is True
    worker = by_kind(docs, "Deployment")["crm-leads-worker"]
    assert "LEADS_WORKER_METRICS_PORT" in env_names(worker)
    assert services["crm-leads-worker"]["spec"]["clusterIP"] == "None"


def test_network_policies() -> None:
    docs = render(values_file("all-features-values.yaml"))
    pols = by_kind(docs, "NetworkPolicy")
    deals = pols["crm-deals"]["spec"]
    callers = {
        p["podSelector"]["matchLabels"].get("crm/service")
        for p in deals["ingress"][0]["from"]
        if "podSelector" in p
    }
    assert callers == set(DEFAULTS["services"]["deals"]["networkPolicy"]["allowFrom"])
    assert {p["port"] for p in deals["ingress"][0]["ports"]} == {"http", "grpc"}
    assert deals["policyTypes"] == ["Ingress", "Egress"]
    assert any(53 in {p["port"] for p in rule.get("ports", [])} for rule in deals["egress"])
    # background pods: no ingress unless worker metrics are on
    assert pols["crm-notify-background"]["spec"]["ingress"] == []
    assert pols["crm-leads-background"]["spec"]["ingress"][0]["ports"] == [
        {"port": "metrics", "protocol": "TCP"}
    ]
    # with allowSameRelease every pod of the release may call every service
    docs = render({"networkPolicy": {"enabled": True}})
    same = by_kind(docs, "NetworkPolicy")["crm-deals"]["spec"]
    assert same["ingress"][0]["from"] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "crm", "app.kubernetes.io/instance": RELEASE}
            }
        }
    ]
    assert same["policyTypes"] == ["Ingress"]


def test_leads_reaches_deals_grpc_inside_the_release() -> None:
    """Lead conversion calls deals over gRPC: every leads pod that may run it (app, worker, beat) gets
    LEADS_DEALS_GRPC_TARGET = the deals Service's gRPC port, and deals' NetworkPolicy admits leads there."""
    docs = render(values_file("all-features-values.yaml"))
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    grpc_port = {p["name"]: p["port"] for p in services["crm-deals"]["spec"]["ports"]}["grpc"]
    target = f"crm-deals.{NAMESPACE}.svc:{grpc_port}"
    callers = [deployments[name] for name in ("crm-leads", "crm-leads-worker", "crm-leads-beat")]
    for dep in callers:
        env = {e["name"]: e.get("value") for e in container(dep)["env"]}
        assert env["LEADS_DEALS_GRPC_TARGET"] == target, dep["metadata"]["name"]
    assert "LEADS_DEALS_GRPC_TARGET" not in env_names(by_kind(docs, "Job")["crm-leads-migrate"])
    assert not any(n.endswith("_GRPC_TARGET") for n in env_names(deployments["crm-deals"]))

    # deals admits leads pods (app and worker alike) on its gRPC port, which the target names
    policy = by_kind(docs, "NetworkPolicy")["crm-deals"]["spec"]
    admitting = [
        rule
        for rule in policy["ingress"]
        if {"port": "grpc", "protocol": "TCP"} in rule["ports"]
        and any(
            p.get("podSelector", {}).get("matchLabels", {}).items()
            <= dep["spec"]["template"]["metadata"]["labels"].items()
            for p in rule["from"]
            for dep in callers
        )
    ]
    assert admitting
    pod_port = {p["name"]: p["containerPort"] for p in container(deployments["crm-deals"])["ports"]}
    assert (
        services["crm-deals"]["spec"]["ports"][1]
        == {
            "name": "grpc",
            "port": grpc_port,
            "targetPort": "grpc",
            "protocol": "TCP",
            "appProtocol": "kubernetes.io/h2c",
        }
        and pod_port["grpc"] == 50051
    )
    # and leads may leave for it when egress is restricted (pods of the release are allowed)
    leads_policy = by_kind(docs, "NetworkPolicy")["crm-leads"]["spec"]
    release = {"app.kubernetes.io/name": "crm", "app.kubernetes.io/instance": RELEASE}
    assert any(
        p.get("podSelector", {}).get("matchLabels") == release
        for r in leads_policy["egress"]
        for p in r["to"]
    )

    # the target follows the release name, namespace and deals' gRPC port
    docs = render({"fullnameOverride": "acme", "services": {"deals": {"grpcPort": 6000}}}, namespace="sales")
    env = {e["name"]: e.get("value") for e in container(by_kind(docs, "Deployment")["acme-leads"])["env"]}
    assert env["LEADS_DEALS_GRPC_TARGET"] == "acme-deals.sales.svc:6000"
    assert {p["name"]: p["port"] for p in by_kind(docs, "Service")["acme-deals"]["spec"]["ports"]}[
        "grpc"
    ] == 6000

    # an explicit value wins (once), e.g. a deals outside the release; extraEnv too
    for override in (
        {"env": {"LEADS_DEALS_GRPC_TARGET": "deals.other:443"}},
        {"extraEnv": [{"name": "LEADS_DEALS_GRPC_TARGET", "value": "deals.other:443"}]},
    ):
        docs = render({"services": {"leads": override, "deals": {"enabled": False}}})
        env = container(by_kind(docs, "Deployment")["crm-leads"])["env"]
        assert [e["value"] for e in env if e["name"] == "LEADS_DEALS_GRPC_TARGET"] == ["deals.other:443"]
    # without deals in the release and no override, the render says what to set
    with pytest.raises(helm.HelmError, match=r"grpcPeers: deals is disabled; set services\.leads\.env"):
        render({"services": {"deals": {"enabled": False}}})
    with pytest.raises(helm.HelmError, match=r"grpcPeers: unknown service \"crm\""):
        render({"services": {"leads": {"grpcPeers": ["deals", "crm"]}}})


# ----------------------------------------------------------------------------------------------- dashboards


DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))


def dashboard_queries(board: dict) -> list[tuple[str, str]]:
    out = []
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            out.append((panel["title"], t["expr"]))
    return out


def test_one_dashboard_per_service_plus_overview() -> None:
    assert sorted(p.stem for p in DASHBOARDS) == sorted([*SERVICES, "overview"])
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid_grafana_json(path: Path) -> None:
    board = json.loads(path.read_text())
    assert {"uid", "title", "panels", "templating", "schemaVersion"} <= set(board)
    assert 1 <= len(board["uid"]) <= 40
    occupied: set[tuple[int, int]] = set()
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs)
        assert all(t["expr"].strip() for t in panel["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_use_only_exported_metrics(path: Path) -> None:
    board = json.loads(path.read_text())
    used: set[str] = set()
    for title, expr in dashboard_queries(board):
        names = metric_names(expr)  # raises on a PromQL syntax error
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= ALLOWED_SERIES, f"{title}: unknown metrics {names - ALLOWED_SERIES}"
        used |= names
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+)(\{.*\})?,\s*(\w+)\)", var["query"]["query"])
            assert m and m.group(1) in METRICS, var
    base = {next((h for h in HISTOGRAMS if n.startswith(f"{h}_")), n) for n in used}
    # HTTP and gRPC RED, outbox age and throughput, consumer lag and outcomes, Celery tasks, group commit
    assert base == METRICS, f"missing panels for {METRICS - base}"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_dashboard_is_scoped_to_its_service(svc: str) -> None:
    board = json.loads((CHART / "dashboards" / f"{svc}.json").read_text())
    assert board["uid"] == f"crm-{svc}"
    for title, expr in dashboard_queries(board):
        for matchers in selectors(expr):
            assert matchers.get("service") == ("=", svc), f"{title}: {expr}"
            assert "namespace" in matchers, f"{title}: {expr}"


def test_metric_checker_catches_typos() -> None:
    """The metric-name check above must be able to fail."""
    assert metric_names('sum(rate(crm_http_request_total{service="leads"}[5m]))') - ALLOWED_SERIES
    assert (
        not metric_names(
            "histogram_quantile(0.95, sum by (le) (rate(crm_grpc_request_duration_seconds_bucket"
            "[$__rate_interval])))"
        )
        - ALLOWED_SERIES
    )
    with pytest.raises(Exception):  # noqa: B017 - promql_parser raises a plain exception type
        metric_names("sum(rate(crm_http_requests_total[5m])")


def test_dashboards_match_their_generator() -> None:
    spec = importlib.util.spec_from_file_location("gen_dashboards", CHART / "hack" / "gen_dashboards.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    generated = gen.render_all()
    assert sorted(generated) == sorted(p.name for p in DASHBOARDS)
    for name, text in generated.items():
        assert (CHART / "dashboards" / name).read_text() == text, f"{name}: run hack/gen_dashboards.py"


# ----------------------------------------------------------------------------------------------- alerts


def rendered_rules(values: dict | None = None, namespace: str = NAMESPACE) -> list[dict]:
    v = deep_merge({"metrics": {"prometheusRule": {"enabled": True}}}, values or {})
    (rule,) = by_kind(render(v, namespace=namespace), "PrometheusRule").values()
    assert set(rule["spec"]) == {"groups"}
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}
    return rules


def test_prometheus_rule_expressions_use_only_exported_metrics() -> None:
    rules = rendered_rules(namespace="sales")
    assert {r["alert"] for r in rules} == {
        "CrmOutboxEventsStuck",
        "CrmConsumerLagHigh",
        "CrmHttp5xxRateHigh",
        "CrmGrpcErrorRateHigh",
        "CrmCeleryTaskFailures",
    }
    used: set[str] = set()
    for r in rules:
        names = metric_names(r["expr"])
        assert names and names <= METRICS, f"{r['alert']}: {names - METRICS}"
        used |= names
        for matchers in selectors(r["expr"]):
            assert matchers["namespace"] == ("=", "sales"), r["expr"]
            assert matchers["service"][0] == "=~"
            assert set(matchers["service"][1].split("|")) == set(SERVICES)
        assert r["labels"]["severity"] in {"critical", "warning", "info"}
        assert re.fullmatch(r"\d+[smh]", r["for"])
    assert {
        "crm_outbox_oldest_unpublished_age_seconds",
        "crm_consumer_lag",
        "crm_http_requests_total",
    } <= used


def test_prometheus_rule_toggles_and_thresholds() -> None:
    rules = rendered_rules(
        {
            "metrics": {
                "prometheusRule": {
                    "rules": {
                        "consumerLag": {"enabled": False},
                        "outboxAge": {"thresholdSeconds": 42, "for": "1m"},
                    }
                }
            }
        }
    )
    by_name = {r["alert"]: r for r in rules}
    assert "CrmConsumerLagHigh" not in by_name
    assert by_name["CrmOutboxEventsStuck"]["expr"].endswith("> 42")
    assert by_name["CrmOutboxEventsStuck"]["for"] == "1m"
    off = {k: {"enabled": False} for k in DEFAULTS["metrics"]["prometheusRule"]["rules"]}
    docs = render({"metrics": {"prometheusRule": {"enabled": True, "rules": off}}})
    assert by_kind(docs, "PrometheusRule") == {}, "an empty rule group is invalid; render nothing"


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package prometheus)"
)


def write_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    (rule,) = by_kind(render({"metrics": {"prometheusRule": {"enabled": True}}}), "PrometheusRule").values()
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


@needs_promtool
def test_promtool_check_rules(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PROMTOOL, "check", "rules", str(write_rules(tmp_path))], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


@needs_promtool
def test_promtool_alert_unit_tests(tmp_path: Path) -> None:
    """The alerts fire on the series crm_platform exports, for this release's namespace only."""
    write_rules(tmp_path)
    billing_get = {"service": "billing", "method": "GET", "route": "/quotes"}

    def series(metric: str, values: str, **labels: str) -> dict:
        labels.setdefault("namespace", NAMESPACE)
        return {
            "series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}",
            "values": values,
        }

    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    series("crm_outbox_oldest_unpublished_age_seconds", "400x30", service="leads"),
                    series("crm_outbox_oldest_unpublished_age_seconds", "2x30", service="deals"),
                    series(
                        "crm_outbox_oldest_unpublished_age_seconds",
                        "9000x30",
                        namespace="other",
                        service="leads",
                    ),
                    series(
                        "crm_consumer_lag", "5000x30", service="telephony", consumer="telephony_phone_index"
                    ),
                    series("crm_http_requests_total", "0+10x30", **billing_get, status="500"),
                    series("crm_http_requests_total", "0+90x30", **billing_get, status="200"),
                    series(
                        "crm_http_requests_total",
                        "0+100x30",
                        service="leads",
                        method="GET",
                        route="/leads",
                        status="200",
                    ),
                    series(
                        "crm_grpc_requests_total",
                        "0+30x30",
                        service="deals",
                        method="ConvertLead",
                        code="INTERNAL",
                    ),
                    series(
                        "crm_grpc_requests_total", "0+70x30", service="deals", method="ConvertLead", code="OK"
                    ),
                    # client errors are not server errors: no alert for leads
                    series(
                        "crm_grpc_requests_total",
                        "0+70x30",
                        service="leads",
                        method="GetLead",
                        code="NOT_FOUND",
                    ),
                    # crm_platform counts a failed task twice: state="failure" (postrun) and "failure_signal"
                    series(
                        "crm_celery_tasks_total",
                        "0+60x30",
                        service="notify",
                        task="notify.send_sms",
                        state="failure",
                    ),
                    series(
                        "crm_celery_tasks_total",
                        "0+60x30",
                        service="notify",
                        task="notify.send_sms",
                        state="failure_signal",
                    ),
                    series(
                        "crm_celery_tasks_total",
                        "0+600x30",
                        service="billing",
                        task="billing.render_pdf",
                        state="success",
                    ),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "3m",
                        "alertname": "CrmOutboxEventsStuck",
                        "exp_alerts": [],
                    },  # `for` not yet met
                    {
                        "eval_time": "10m",
                        "alertname": "CrmOutboxEventsStuck",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "namespace": NAMESPACE,
                                    "service": "leads",
                                }
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "CrmConsumerLagHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": NAMESPACE,
                                    "service": "telephony",
                                    "consumer": "telephony_phone_index",
                                }
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "CrmHttp5xxRateHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": NAMESPACE,
                                    "service": "billing",
                                }
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "CrmGrpcErrorRateHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": NAMESPACE,
                                    "service": "deals",
                                }
                            }
                        ],
                    },
                    {
                        "eval_time": "25m",
                        "alertname": "CrmCeleryTaskFailures",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": NAMESPACE,
                                    "service": "notify",
                                    "task": "notify.send_sms",
                                }
                            }
                        ],
                    },
                ],
            }
        ],
    }
    # promtool compares annotations exactly; their text is not under test here, so drop them
    spec = yaml.safe_load((tmp_path / "rules.yaml").read_text())
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "rules_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------------------------------------------------- images


def workspace_members() -> list[str]:
    return sorted(
        str(p.parent.relative_to(REPO))
        for pat in ("libs/*/pyproject.toml", "services/*/pyproject.toml")
        for p in REPO.glob(pat)
    )


@pytest.mark.parametrize("svc", SERVICES)
def test_dockerfile_matches_the_chart_contract(svc: str) -> None:
    cmds = dockerfile.parse_file(str(REPO / "services" / svc / "Dockerfile"))
    args = {c.value[0].split("=", 1)[0]: c.value[0].split("=", 1)[1] for c in cmds if c.cmd == "ARG"}
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    froms = [c.value for c in cmds if c.cmd == "FROM"]
    assert froms == [("${PYTHON_IMAGE}", "AS", "build"), ("${PYTHON_IMAGE}", "AS", "runtime")]
    runtime_start = next(i for i, c in enumerate(cmds) if c.cmd == "FROM" and c.value[-1] == "runtime")
    build, runtime = cmds[:runtime_start], cmds[runtime_start:]
    runs = " ; ".join(c.value[0] for c in build if c.cmd == "RUN")
    assert "pip install uv==0.13.8" in runs
    assert f"uv sync --frozen --no-dev --package crm-{svc} --no-install-workspace" in runs
    assert re.search(rf"uv sync --frozen --no-dev --package crm-{svc}(\s|$)(?!--no-install)", runs)
    # uv reads the whole workspace: every member's pyproject.toml must be in the build before `uv sync`
    copied = {c.value[0] for c in build if c.cmd == "COPY"}
    for member in workspace_members():
        assert f"{member}/pyproject.toml" in copied, f"{member} is missing from services/{svc}/Dockerfile"
    assert {"libs/crm-proto/", "libs/crm-platform/", f"services/{svc}/"} <= copied
    # the runtime stage gets only the build result, runs as the numeric non-root user the chart expects
    assert [c.flags for c in runtime if c.cmd == "COPY"] == [("--from=build",)]
    (user,) = [c.value[0] for c in runtime if c.cmd == "USER"]
    pod = DEFAULTS["common"]["podSecurityContext"]
    assert user == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    exposed = {int(p) for c in runtime if c.cmd == "EXPOSE" for p in c.value}
    assert exposed == {DEFAULTS["serviceDefaults"]["httpPort"], DEFAULTS["serviceDefaults"]["grpcPort"]}
    (entry,) = [c for c in runtime if c.cmd == "ENTRYPOINT"]
    (cmd,) = [c for c in runtime if c.cmd == "CMD"]
    assert entry.json and entry.value == ("python", "-m", f"crm_{svc}")
    assert cmd.json and cmd.value == ("app",)
    env = {}
    for c in runtime:
        if c.cmd == "ENV":
            env.update(zip(c.value[::2], c.value[1::2], strict=True))
    assert env[f"{svc.upper()}_HTTP_PORT"] == "8080" and env[f"{svc.upper()}_GRPC_PORT"] == "50051"
    assert env["PATH"].startswith("/app/.venv/bin:")
    # the sources the image needs are really there (the service finds alembic.ini next to its package)
    assert (REPO / "services" / svc / "src" / f"crm_{svc}").is_dir()


def test_dockerignore_keeps_the_build_inputs() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list style: everything is excluded first"
    assert {"!pyproject.toml", "!uv.lock", "!libs/", "!services/"} <= set(lines)
    assert "**/.venv/" in lines and "**/tests/" in lines
