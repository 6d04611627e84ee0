"""The edge: what a request may carry before any route reads it.

- A body over MAX_BODY_BYTES is answered 413 and not read any further.
- Text with a NUL character (PostgreSQL refuses it in text and jsonb) or a lone UTF-16 surrogate
  (it has no UTF-8 form, so neither Temporal's JSON payloads nor the database can carry it) is
  answered 422 naming the field, wherever it is: the JSON body (keys too), the query or the path.
  Refused here, it never reaches a workflow or the read model, where it would fail deep inside.
- A JSON body is checked with JSON's own types, as the schema publishes them (pydantic's strict JSON
  mode): `1` is not `true`, `"5"` is not a number, a number is not a date-time. The route then
  validates it as usual.
- `Moment`: a timestamp in the query, ISO 8601 only, read as Asia/Shanghai local time without an
  offset, between 1900 and 2999 (further out, converting it to UTC overflows).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError, WithJsonSchema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.analytics import LOCAL_TZ
from domain.messages import CodedError, negotiate, render

MAX_BODY_BYTES = 2 * 1024 * 1024  # a full batch of 1,000 ordinary raw leads is ~0.3 MB


def too_large() -> HTTPException:
    return HTTPException(413)  # api.errors answers error.http.413 with the limit


def _too_large_body(scope: Scope) -> bytes:
    """The 413 answered before any route runs, in the reader's language like every other error."""
    headers = dict(scope["headers"])
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
    lang = negotiate(query, headers.get(b"accept-language", b"").decode("latin-1"))
    params = {"limit": MAX_BODY_BYTES}
    return json.dumps({"detail": render("error.http.413", params, lang), "code": "error.http.413",
                       "params": params}).encode()


class BodyLimit:
    """413 for a body over the limit: at once by its Content-Length, else as soon as the count passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = _too_large_body(scope)
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large()  # the route is reading the body: FastAPI answers it
            return message

        await self.app(scope, counted, send)


# ------------------------------------------------------------------ text

def _fault(text: str) -> str | None:
    """The code of what is wrong with a text (invalid.text_nul, invalid.text_surrogate), or None."""
    if "\x00" in text:
        return "invalid.text_nul"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "invalid.text_surrogate"
    return None


def _walk(value: Any, loc: tuple) -> list[dict[str, Any]]:
    """Every string (and key) in a JSON value with a fault, by location; iterative, as bodies nest deep."""
    errors: list[dict[str, Any]] = []
    todo = [(value, loc)]
    while todo:
        value, loc = todo.pop()
        if isinstance(value, str):
            if (fault := _fault(value)) is not None:
                errors.append({"loc": loc, "code": fault, "type": "string_invalid_character"})
        elif isinstance(value, dict):
            for key, item in value.items():
                if (fault := _fault(key)) is not None:
                    errors.append({"loc": (*loc, _printable(key)), "code": fault, "type": "key_invalid_character"})
                todo.append((item, (*loc, _printable(key))))
        elif isinstance(value, list):
            todo += [(item, (*loc, index)) for index, item in enumerate(value)]
    return errors


def _printable(text: str) -> str:
    """A key as the error may name it: valid UTF-8 (a lone surrogate could not be answered)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _declared_params(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    """The route's own query and path parameter names (its dependencies' included); others it never reads."""
    query: set[str] = set()
    path: set[str] = set()
    todo = [route.dependant]
    while todo:
        dependant = todo.pop()
        query |= {f.alias for f in dependant.query_params}
        path |= {f.alias for f in dependant.path_params}
        todo += dependant.dependencies
    return frozenset(query), frozenset(path)


async def check_input(request: Request) -> None:
    """An app-wide dependency (it runs before the route's own): 422 for NUL or a lone surrogate in any input,
    and for a JSON body whose values are not of the JSON types the schema gives them."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    query, path = _declared_params(route)
    errors = []
    for name, value in request.query_params.multi_items():
        if name in query:
            errors += _walk(value, ("query", name))
    for name, value in request.path_params.items():
        if name in path and isinstance(value, str):
            errors += _walk(value, ("path", name))
    raw = await request.body() if route.body_field is not None else b""
    body = await _json(request, raw)
    if body is not _NOT_JSON:
        errors += _walk(body, ("body",))
    if errors:
        raise RequestValidationError(errors)
    if body is not _NOT_JSON and route.body_field is not None:
        strictly(route.body_field.field_info.annotation, raw, ("body",))


_NOT_JSON = object()


async def _json(request: Request, raw: bytes) -> Any:
    """The body as FastAPI read it: JSON when its content type says so; another type is the route's to refuse."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw or not (content_type == "application/json" or content_type.endswith("+json")):
        return _NOT_JSON
    try:
        return await request.json()  # parsed once by FastAPI, cached on the request
    except (ValueError, RecursionError):  # FastAPI has answered these already
        return _NOT_JSON


@lru_cache(maxsize=256)
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def strictly(kind: Any, raw: bytes | str, loc: tuple = ()) -> Any:
    """`raw` JSON validated as `kind` with JSON's own types; RequestValidationError naming the fields (at `loc`)."""
    try:
        return _adapter(kind).validate_json(raw, strict=True)
    except ValidationError as err:
        raise RequestValidationError([{"loc": (*loc, *e["loc"]), "msg": e["msg"], "type": e["type"],
                                       **({"ctx": e["ctx"]} if "ctx" in e else {})}
                                      for e in err.errors(include_url=False, include_input=False)]) from None


# ------------------------------------------------------------------ timestamps

EARLIEST = datetime(1900, 1, 1, tzinfo=LOCAL_TZ)
LATEST = datetime(3000, 1, 1, tzinfo=LOCAL_TZ)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    # pydantic would read "0" or "1.5" as seconds since 1970: the schema promises a date or date-time
    if isinstance(value, str) and not _ISO.match(value):
        raise CodedError("invalid.iso_moment")
    return value


def _in_range(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)
    if not EARLIEST <= moment < LATEST:
        raise CodedError("invalid.moment_range")
    return moment


Moment = Annotated[
    datetime,
    BeforeValidator(_iso_only),
    AfterValidator(_in_range),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]
