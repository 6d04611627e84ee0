"""Errors people can act on: 409 with why the stage forbids it, 403, 404, 422 with the field.

Every error answer has one of two shapes, both in the OpenAPI schema: a 422 lists the fields at fault
(FastAPI's `HTTPValidationError`: loc, msg, type), every other error is an `ErrorMessage`. Nothing a
client sent is echoed back: a value that failed validation may be what cannot be answered (NaN, a lone
surrogate), or a customer's phone number.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.edge import MAX_BODY_BYTES
from core.logging import get_logger
from db.intake_keys import ExternalIdReused
from db.referrals import ReferralRefused
from domain.customers import InvalidPhone
from domain.messages import CATALOG, DEFAULT_LANG, CodedError, negotiate, render
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


class Problem(HTTPException):
    """An error answer people read: a catalog code (`error.*`) and its parameters, rendered in the reader's
    language when answered (`detail`), with `code` and `params` beside it. Every error the API raises is one."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, /, **params: Any):
        super().__init__(status, render(code, params, DEFAULT_LANG), headers)
        self.code, self.params = code, params


class Invalid(HTTPException):
    """A 422 naming the field at fault: `loc` as FastAPI's (("body", "city")), the reason a code (`invalid.*`)."""

    def __init__(self, loc: tuple[str | int, ...] | list[str | int], code: str, /, **params: Any):
        super().__init__(422, render(code, params, DEFAULT_LANG))
        self.errors = [{"loc": tuple(loc), "type": "value_error", "code": code, "params": params}]


def invalid_error(loc: tuple[Any, ...] | list[Any], err: CodedError, kind: str = "value_error") -> dict:
    """One error of a RequestValidationError, from a CodedError: rendered like pydantic's own."""
    return {"loc": tuple(loc), "type": kind, "code": err.code, "params": err.params}


def _lang(request: Request) -> str:
    return negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))


def _message(e: dict[str, Any], lang: str) -> tuple[str, str, dict[str, Any]]:
    """An error's text in `lang`, its code and parameters: our own code, a CodedError a validator raised, or
    pydantic's error type (its `ctx` are the parameters)."""
    if "code" in e:
        code, params = e["code"], e.get("params") or {}
    elif isinstance(error := (e.get("ctx") or {}).get("error"), CodedError):
        code, params = error.code, error.params
    else:
        code = f"invalid.{e.get('type')}"
        code = code if code in CATALOG else "invalid.other"
        params = {k: v for k, v in (e.get("ctx") or {}).items() if isinstance(v, str | int | float)}
    return render(code, params, lang), code, params


def said(e: dict[str, Any], lang: str) -> dict[str, Any]:
    """One error as an answer's item: its loc (if any), its text in `lang`, its code and parameters (a batch item's
    errors, a 422's detail). `e`: pydantic's error, or {"code", "params"} of our own, or {"error": CodedError}."""
    if isinstance(err := e.get("error"), CodedError):
        e = {k: v for k, v in e.items() if k != "error"} | {"code": err.code, "params": err.params}
    text, code, params = _message(e, lang)
    out: dict[str, Any] = {"loc": list(e["loc"])} if "loc" in e else {}
    return out | {"msg": text, "code": code} | ({"params": params} if params else {}) | (
        {"kind": e["kind"]} if "kind" in e else {})


def _validation_error(errors: list[dict[str, Any]], lang: str = DEFAULT_LANG) -> JSONResponse:
    detail = []
    for e in errors:
        text, code, params = _message(e, lang)
        loc = list(e["loc"])
        if isinstance(params.get("field"), str) and params["field"] not in loc:  # a model's check naming its field
            loc.append(params["field"])
        detail.append({"loc": [_text(part) if isinstance(part, str) else part for part in loc],
                       "msg": _text(text), "type": str(e.get("type") or "value_error"), "code": code,
                       **({"params": params} if params else {})})
    return JSONResponse({"detail": detail}, status_code=422)


def _text(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return _validation_error(list(exc.errors()), _lang(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        """Every other error answer: a Problem's code, else what its status means (FastAPI's own 404, 405)."""
        if isinstance(exc, Invalid):
            return _validation_error(exc.errors, _lang(request))
        if isinstance(exc, Problem):
            code, params = exc.code, exc.params
        else:
            code = f"error.http.{exc.status_code}"
            if code not in CATALOG:
                code, params = "error.http.other", {"status": exc.status_code}
            else:  # (only 413's text has a parameter: the limit it went over)
                params = {"limit": MAX_BODY_BYTES} if exc.status_code == 413 else {}
        return _problem(request, exc.status_code, code, params, headers=getattr(exc, "headers", None))

    @app.exception_handler(ActionRefused)
    async def _refused(request: Request, exc: ActionRefused):
        status = _STATUS.get(exc.kind, 409)
        code, params = (exc.code, exc.params) if exc.code in CATALOG else (f"error.http.{status}", {})
        if code != exc.code:  # a refusal without its code: people read what the status means; the log says why
            log.warning("refusal without a message code", path=request.url.path, reason=exc.reason, kind=exc.kind)
        if status == 422:
            return _validation_error([{"loc": ["body"], "type": "value_error", "code": code, "params": params}],
                                     _lang(request))
        return _problem(request, status, code, params, kind=exc.kind)

    @app.exception_handler(ExternalIdReused)
    async def _reused(request: Request, exc: ExternalIdReused):
        return _problem(request, 409, exc.code, exc.params, kind="external_id_reused", field="external_id")

    @app.exception_handler(InvalidPhone)
    async def _phone(request: Request, exc: InvalidPhone):
        return _validation_error([invalid_error(("body", "phone"), exc, "value_error.phone")], _lang(request))

    @app.exception_handler(ReferralRefused)
    async def _referral(request: Request, exc: ReferralRefused):
        return _problem(request, 409, exc.code, exc.params, kind=exc.kind, field="referral_code")

    @app.exception_handler(PlaceError)
    async def _place(request: Request, exc: PlaceError):
        return _validation_error([invalid_error(("body", "city"), exc, "value_error.city")], _lang(request))

    @app.exception_handler(LeadNotFound)
    async def _not_found(request: Request, exc: LeadNotFound):
        return _problem(request, 404, exc.code, exc.params)

    @app.exception_handler(RPCError)
    async def _engine_refused(request: Request, exc: RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return _problem(request, 404, "error.http.404", {})
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:  # e.g. an id or a payload over Temporal's limits
            return _validation_error([{"loc": ["body"], "type": "value_error.temporal",
                                       "code": "invalid.engine_refused", "params": {"error": exc.message}}],
                                     _lang(request))
        return _unavailable(request, exc)

    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def _engine_timeout(request: Request, exc: RPCTimeoutOrCancelledError):
        return _unavailable(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _database_busy(request: Request, exc: PoolTimeout):
        """Every database connection busy for the pool's whole timeout: overload, so 503 and retry, never a 500."""
        log.warning("database pool exhausted", path=request.url.path, error=repr(exc))
        return _problem(request, 503, "error.database_busy", {}, headers={"Retry-After": "1"})

    _document(app)


def _problem(request: Request, status: int, code: str, params: dict[str, Any], *,
             headers: dict[str, str] | None = None, **extra: str) -> JSONResponse:
    """An ErrorMessage: the code's text in the reader's language, the code and its parameters."""
    body = {"detail": render(code, params, _lang(request)), "code": code, "params": params} | extra
    return JSONResponse(body, status_code=status, headers=headers)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("workflow engine unavailable", path=request.url.path, error=repr(exc))
    return _problem(request, 503, "error.engine_unavailable", {}, headers={"Retry-After": "1"})


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
