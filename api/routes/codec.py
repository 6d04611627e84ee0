"""The codec endpoint: the Temporal UI and CLI decode the encrypted payloads of lead histories here.

Temporal's remote codec protocol: `POST /codec/decode` and `POST /codec/encode` take and answer
`{"payloads": [{"metadata": {name: base64}, "data": base64}]}` (Payloads as protobuf JSON), with the
namespace in `X-Namespace`. The keys are the API's own (LEADFLOW_CODEC_KEYS, the same the workers use).

Decoding shows customers' names and phones, so only lead ops (lead_ops, head_of_lead_ops) may call it,
never a dealer's people: 401 without a valid token, 403 for another role. Every call is logged with
who made it. The caller proves who it is with its bearer token, either
- in `Authorization: Bearer <token>` (the CLI: `--codec-auth "Bearer <token>"`; the UI with
  TEMPORAL_CODEC_PASS_ACCESS_TOKEN, when its sign-in yields a Leadflow token), or
- in the portal's session cookie (`leadflow_session`, HttpOnly, SameSite=Lax, api/auth.py): a lead ops
  user signed in to the portal decodes in the Temporal UI with nothing more to set, since the UI, with
  TEMPORAL_CODEC_INCLUDE_CREDENTIALS, sends it along (the UI and the API must be on the same site, e.g.
  *.example.com or localhost). No CSRF token here: decode and encode change nothing, and CORS lets only
  the UI's origin read the answer.

A dealer's token or session is answered 403 at once (no retry in the CLI or the UI), an unknown one 401.

The browser calls it across origins: CORS allows the Temporal UI's origin (LEADFLOW_TEMPORAL_UI_URL)
only, with credentials, for these paths only. Not in the OpenAPI schema: it is Temporal's protocol for
Temporal's tools, not part of the integration API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from api import auth
from api.access import LEAD_OPS, require
from api.deps import SessionDep, current_actor
from api.errors import Problem
from core.logging import get_logger
from core.settings import get_settings
from core.temporal_client import CodecError
from domain.models import Actor

PREFIX = "/codec"
CODEC_ROLES = LEAD_OPS  # who may see customers' names and phones in the Temporal UI

router = APIRouter(prefix=PREFIX, include_in_schema=False)
log = get_logger("api.codec")
_bearer = HTTPBearer(auto_error=False)


def codec_actor(request: Request, session: SessionDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    """The caller, by its bearer token or else its codec cookie; 401 without either, 403 unless lead ops."""
    found = auth.cookie_actor(session, request, datetime.now(UTC)) if credentials is None else None
    actor = found[0] if found is not None else current_actor(session, credentials)
    require(actor, CODEC_ROLES, "decoding")
    return actor


CodecActor = Annotated[Actor, Depends(codec_actor)]


async def _payloads(request: Request) -> Payloads:
    raw = await request.body()
    try:
        return json_format.Parse(raw or b"{}", Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, RecursionError) as err:
        raise Problem(422, "error.codec_body", error=str(err)) from None


async def _convert(request: Request, actor: Actor, way: str) -> JSONResponse:
    payloads = await _payloads(request)
    codec = request.app.state.temporal.data_converter.payload_codec  # the API's client's: the workers' keys
    try:
        if codec is not None:
            converted = await (codec.decode if way == "decode" else codec.encode)(payloads.payloads)
            payloads = Payloads(payloads=converted)
    except CodecError as err:
        raise Problem(422, "error.codec_failed", error=str(err)) from None
    log.info(f"codec {way}", user_id=actor.user_id, role=actor.role.value, payloads=len(payloads.payloads),
             namespace=request.headers.get("x-namespace"))
    return JSONResponse(json_format.MessageToDict(payloads))


@router.post("/decode")
async def decode(request: Request, actor: CodecActor) -> JSONResponse:
    return await _convert(request, actor, "decode")


@router.post("/encode")
async def encode(request: Request, actor: CodecActor) -> JSONResponse:
    return await _convert(request, actor, "encode")


def ui_origin(url: str) -> str:
    """The browser origin of the Temporal UI's address (scheme, host and port; no path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class CodecCORS:
    """CORS for /codec/* only: the Temporal UI's origin, with credentials (token header or cookie)."""

    def __init__(self, app: ASGIApp, origin: str | None = None):
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=[origin or ui_origin(get_settings().temporal_ui_url)],
                                   allow_methods=["POST"],
                                   allow_headers=["Authorization", "Content-Type", "X-Namespace"],
                                   allow_credentials=True, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            return await self.cors(scope, receive, send)
        return await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_middleware(CodecCORS)

