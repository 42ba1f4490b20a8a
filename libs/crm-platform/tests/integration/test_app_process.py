"""The real entry point `python -m crm_<svc> app` (uvicorn + gRPC + relay, as make run and the chart
start it): ready on its ports, one JSON access line per request only when S_ACCESS_LOG is on, and a
graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import httpx
from crm_leads.app import definition


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run_app(crm, access_log: bool) -> tuple[int, list[dict]]:
    """Start the app, make two requests, stop it with SIGTERM; its exit code and JSON log lines."""
    database_url = await crm.databases.fresh(definition)
    port = _free_port()
    env = {
        **os.environ,
        "LEADS_DATABASE_URL": database_url,
        "LEADS_NATS_URL": crm.servers.nats,
        "LEADS_REDIS_URL": crm.servers.redis,
        "LEADS_HTTP_HOST": "127.0.0.1",
        "LEADS_HTTP_PORT": str(port),
        "LEADS_GRPC_HOST": "127.0.0.1",
        "LEADS_GRPC_PORT": str(_free_port()),
        "LEADS_ACCESS_LOG": "true" if access_log else "false",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crm_leads", "app", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the app did not become ready in 30 s")
            assert (await http.get("/healthz")).json() == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    return proc.returncode, lines


def _access_lines(lines: list[dict]) -> list[dict]:
    return [x for x in lines if x.get("logger") == "uvicorn.access"]


async def test_app_logs_requests_only_when_asked_and_stops_cleanly_on_sigterm(crm):
    code, lines = await _run_app(crm, access_log=False)
    # uvicorn shuts the app down, then ends the process with the signal it got (exit status -15)
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in [x["msg"] for x in lines]
    assert _access_lines(lines) == []

    code, lines = await _run_app(crm, access_log=True)
    access = _access_lines(lines)
    assert any("/healthz" in x["msg"] and x["service"] == "leads" for x in access), access
