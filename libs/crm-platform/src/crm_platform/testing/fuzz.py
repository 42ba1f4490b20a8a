"""Schemathesis over a service's OpenAPI (the services' fuzz tests share this; dev dependency only).

Every operation of the schema is run in passes, each a (name, headers, seeded path parameters) triple:
an admin pass with generated path parameters, a "seeded" pass whose path parameters point at records the
test created (so handlers run deep), an anonymous pass without a token. Valid and invalid requests are
generated; no answer may be a 5xx, and an anonymous request outside the public paths may never succeed.
With ``conformance``, a 2xx answer to a valid request must also match the schema (status code, content
type, body) and every error must be problem+json. Runs synchronously: call it with ``asyncio.to_thread``
while the event loop serves the app (``crm_platform.testing.harness.serve_http``)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

PROBLEM = "application/problem+json"
SUCCESS_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
Pass = tuple[str, dict[str, str] | None, dict[str, str] | None]  # name, headers, seeded path parameters


def fuzz_operations(
    schema: Any,
    base_url: str,
    passes: Sequence[Pass],
    *,
    examples: int,
    public_prefixes: tuple[str, ...] = ("/healthz",),
    skipped_paths: frozenset[str] = frozenset({"/readyz"}),  # 503 by design when a dependency is down
    conformance: bool = False,
) -> tuple[list[str], dict[str, int]]:
    """Run every pass over every operation; returns the failures (with a curl command to reproduce
    each) and the number of calls per "pass: operation"."""
    failures: list[str] = []
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in skipped_paths:
            continue
        names = [p.name for p in operation.path_parameters]
        public = operation.path.startswith(public_prefixes)
        for pass_name, headers, seeded in passes:
            path_parameters = None
            if seeded is not None:
                if not names or any(n not in seeded for n in names):
                    continue
                path_parameters = {n: seeded[n] for n in names}
            strategy = st.one_of(
                *(
                    st.tuples(
                        st.just(mode),
                        operation.as_strategy(generation_mode=mode, path_parameters=path_parameters),
                    )
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                )
            )
            label = f"{pass_name}: {operation.label}"
            check = _checker(base_url, headers, public, headers is None, conformance)

            def count(label: str = label) -> None:
                calls[label] = calls.get(label, 0) + 1

            try:
                _run_pass(strategy, check, count, examples)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{label}\n{_describe(exc)}")
    return failures, calls


def _run_pass(strategy: Any, check: Callable[..., None], count: Callable[[], None], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=strategy)
    def run(drawn: tuple[GenerationMode, schemathesis.Case]) -> None:
        count()
        check(*drawn)

    run()


def _checker(
    base_url: str, headers: dict[str, str] | None, public: bool, anonymous: bool, conformance: bool
) -> Callable[[GenerationMode, schemathesis.Case], None]:
    def check(mode: GenerationMode, case: schemathesis.Case) -> None:
        if anonymous and case.headers:
            case.headers.pop("authorization", None)
            case.headers.pop("Authorization", None)
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        ok = response.status_code < 300
        strict = conformance and ok and mode == GenerationMode.POSITIVE and not anonymous
        case.validate_response(response, checks=SUCCESS_CHECKS if strict else [not_a_server_error])
        content_type = (response.headers.get("content-type") or [""])[0]
        problem = None
        if anonymous and not public and ok:
            problem = f"answered {response.status_code} without a token"
        elif conformance and response.status_code >= 400 and not content_type.startswith(PROBLEM):
            problem = f"answered {response.status_code} as {content_type!r}, not {PROBLEM}"
        if problem:
            raise AssertionError(
                f"{case.method} {case.path} {problem}: {response.text[:300]}\n"
                f"Reproduce with:\n\n    {case.as_curl_command()}"
            )

    return check


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    for note in getattr(exc, "__notes__", []) or []:
        text += f"\n{note}"
    return text[:4000]
