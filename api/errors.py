"""Errors people can act on: 409 with why the stage forbids it, 403, 404, 422 with the field.

Every error answer has one of two shapes, both in the OpenAPI schema: a 422 lists the fields at fault
(FastAPI's `HTTPValidationError`: loc, msg, type), every other error is an `ErrorMessage`. Nothing a
client sent is echoed back: a value that failed validation may be what cannot be answered (NaN, a lone
surrogate), or a customer's phone number.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.edge import MAX_BODY_BYTES
from core.logging import get_logger
from db.intake_keys import ExternalIdReused
from db.referrals import ReferralRefused
from domain.customers import InvalidPhone
from domain.messages import CATALOG, negotiate, render
from domain.places import PlaceError
from workflows.gateway import ActionRefused, LeadNotFound

log = get_logger("api.errors")
_STATUS = {"stage": 409, "closed": 409, "claimed": 409, "forbidden": 403, "invalid": 422}


class ErrorMessage(BaseModel):
    """Why the request was not done."""

    detail: str
    kind: str | None = None  # a lead's refusal: stage | closed | forbidden; external_id_reused
    code: str | None = None  # a refusal: its message code (domain.messages); `detail` is its text
    params: dict | None = None
    field: str | None = None  # the field at fault, where one is (external_id_reused: external_id)


_MEANING = {
    400: "the body could not be decoded (not UTF-8 JSON)",
    401: "no bearer token, or an unknown or inactive one",
    403: "the caller's role (or dealer) may not do this",
    404: "not found, or not one the caller may see",
    409: "the current state does not allow it: the lead's stage, or it exists already, or the external id was used for "
         "other content",
    413: f"the request body is over {MAX_BODY_BYTES} bytes",
    429: "too many failed sign-ins for this account or address: locked for Retry-After seconds",
    503: "the workflow engine did not answer in time; retry: intake is idempotent, an action already done is refused "
         "(409)",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route or router: each error code with its meaning and the ErrorMessage shape."""
    return {code: {"model": ErrorMessage, "description": _MEANING[code]} for code in codes}


def _validation_error(errors: list[dict[str, Any]]) -> JSONResponse:
    detail = [{"loc": [_text(part) if isinstance(part, str) else part for part in e["loc"]],
               "msg": _text(str(e["msg"])), "type": str(e["type"])} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def _text(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return _validation_error(list(exc.errors()))

    @app.exception_handler(ActionRefused)
    async def _refused(request: Request, exc: ActionRefused):
        status = _STATUS.get(exc.kind, 409)
        lang = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
        text = render(exc.code, exc.params, lang) if exc.code in CATALOG else exc.reason  # the reader's language
        if status == 422:
            return _validation_error([{"loc": ["body"], "msg": text, "type": "value_error"}])
        extra = {"code": exc.code, "params": exc.params} if exc.code else {}
        return JSONResponse({"detail": text, "kind": exc.kind} | extra, status_code=status)

    @app.exception_handler(ExternalIdReused)
    async def _reused(_: Request, exc: ExternalIdReused):
        return JSONResponse({"detail": str(exc), "kind": "external_id_reused", "field": "external_id"}, status_code=409)

    @app.exception_handler(InvalidPhone)
    async def _phone(_: Request, exc: InvalidPhone):
        return _validation_error([{"loc": ["body", "phone"], "msg": str(exc), "type": "value_error.phone"}])

    @app.exception_handler(ReferralRefused)
    async def _referral(_: Request, exc: ReferralRefused):
        return JSONResponse({"detail": exc.reason, "kind": exc.kind, "field": "referral_code"}, status_code=409)

    @app.exception_handler(PlaceError)
    async def _place(_: Request, exc: PlaceError):
        return _validation_error([{"loc": ["body", "city"], "msg": str(exc), "type": "value_error.city"}])

    @app.exception_handler(LeadNotFound)
    async def _not_found(_: Request, exc: LeadNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(RPCError)
    async def _engine_refused(request: Request, exc: RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return JSONResponse({"detail": "not found"}, status_code=404)
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # e.g. an id or a payload over Temporal's limits
            return _validation_error([{"loc": ["body"], "msg": f"the workflow engine refused it: {exc.message}",
                                       "type": "value_error.temporal"}])
        return _unavailable(request, exc)

    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def _engine_timeout(request: Request, exc: RPCTimeoutOrCancelledError):
        return _unavailable(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _database_busy(request: Request, exc: PoolTimeout):
        """Every database connection busy for the pool's whole timeout: overload, so 503 and retry, never a 500."""
        log.warning("database pool exhausted", path=request.url.path, error=repr(exc))
        return JSONResponse({"detail": "the database is busy; retry: intake is idempotent, an action already done "
                                       "is refused (409)"}, status_code=503, headers={"Retry-After": "1"})

    _document(app)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("workflow engine unavailable", path=request.url.path, error=repr(exc))
    return JSONResponse({"detail": _MEANING[503]}, status_code=503, headers={"Retry-After": "1"})


def _document(app: FastAPI) -> None:
    """Add to the OpenAPI schema what every route answers alike: 401 where a token is needed, 400 and 413 where
    a body is read. (The routes declare their own 403, 404, 409 and 503.)"""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorMessage", ErrorMessage.model_json_schema())
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                codes = [401] if operation.get("security") else []
                codes += [400, 413] if "requestBody" in operation else []
                for code in codes:
                    operation["responses"].setdefault(str(code), {
                        "description": _MEANING[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
