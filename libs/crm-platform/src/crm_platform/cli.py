"""Process entry points shared by every service: ``python -m crm_<svc> app|worker|beat|migrate``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from crm_platform.observability import configure_logging


def main(package: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    parser.add_argument("command", choices=["app", "worker", "beat", "migrate", "token"])
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CRM_WORKER_CONCURRENCY", "2")))
    parser.add_argument("--role", default="admin", help="token: role for a dev JWT")
    args, rest = parser.parse_known_args(argv)

    app_module: Any = importlib.import_module(f"{package}.app")
    definition = app_module.definition
    settings = definition.load_settings()
    configure_logging(definition.name, settings.log_level)

    if args.command == "migrate":
        from crm_platform.migrations import upgrade

        upgrade(definition.service_root, settings.database_url)
        print(f"{definition.name}: schema at head")
    elif args.command == "app":
        import uvicorn

        uvicorn.run(
            app_module.create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=settings.access_log,
            timeout_graceful_shutdown=10,
            limit_concurrency=256,
        )
    elif args.command in ("worker", "beat"):
        worker: Any = importlib.import_module(f"{package}.worker")
        celery_args = (
            [
                "worker",
                "-Q",
                definition.name,
                "-n",
                f"{definition.name}@%h",
                f"--concurrency={args.concurrency}",
                "--loglevel",
                settings.log_level,
            ]
            if args.command == "worker"
            else [
                "beat",
                "--loglevel",
                settings.log_level,
                "--schedule",
                os.environ.get("CRM_BEAT_SCHEDULE", f"/tmp/crm-{definition.name}-beat"),
            ]
        )
        code = worker.celery.start(celery_args + rest)
        sys.exit(code or 0)
    elif args.command == "token":
        from crm_platform.auth import issue_token

        print(issue_token(settings.jwt_secret, f"dev-{args.role}", (args.role,), "dev"))
    sys.exit(0)
