"""An HTTP fax + SMS provider double (a real HTTP server on loopback, uvicorn in the test's loop), which
also serves documents for attachments-by-reference."""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class HttpProviderDouble:
    faxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sms: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer the next sends with
    files: dict[str, bytes] = field(default_factory=lambda: {"invoice.pdf": PDF})
    port: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _server: Any = None
    _task: Any = None

    def app(self) -> Starlette:
        async def send_fax(request: Request) -> Response:
            if self.fail_next:
                return JSONResponse({"error": "scripted"}, status_code=self.fail_next.pop(0))
            body = await request.json()
            doc = body["document"]
            fax_id = f"fax-{next(self._ids)}"
            self.faxes[fax_id] = {
                "to": body["to"],
                "reference": body["reference"],
                "filename": doc["filename"],
                "content": base64.b64decode(doc["content_base64"]),
                "content_type": doc["content_type"],
                "status": "sending",
                "auth": request.headers.get("authorization"),
            }
            return JSONResponse({"id": fax_id}, status_code=201)

        async def fax_status(request: Request) -> Response:
            fax = self.faxes.get(request.path_params["fax_id"])
            if fax is None:
                return JSONResponse({"error": "unknown"}, status_code=404)
            return JSONResponse({"status": fax["status"], "code": fax.get("code", "")})

        async def send_sms(request: Request) -> Response:
            if self.fail_next:
                return JSONResponse({"error": "scripted"}, status_code=self.fail_next.pop(0))
            body = await request.json()
            sms_id = f"sms-{next(self._ids)}"
            self.sms.append({**body, "id": sms_id})
            return JSONResponse({"id": sms_id})

        async def file(request: Request) -> Response:
            content = self.files.get(request.path_params["name"])
            if content is None:
                return Response(status_code=404)
            return Response(content, media_type="application/pdf")

        return Starlette(
            routes=[
                Route("/fax/faxes", send_fax, methods=["POST"]),
                Route("/fax/faxes/{fax_id}", fax_status),
                Route("/sms", send_sms, methods=["POST"]),
                Route("/files/{name}", file),
            ]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HttpProviderDouble:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task
