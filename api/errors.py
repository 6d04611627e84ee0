"""Errors people can act on: 409 with why the stage forbids it, 403, 404, 422 with the field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from domain.customers import InvalidPhone
from workflows.gateway import ActionRefused, LeadNotFound

_STATUS = {"stage": 409, "closed": 409, "forbidden": 403, "invalid": 422}


def install(app: FastAPI) -> None:
    @app.exception_handler(ActionRefused)
    async def _refused(_: Request, exc: ActionRefused):
        return JSONResponse({"detail": exc.reason, "kind": exc.kind}, status_code=_STATUS.get(exc.kind, 409))

    @app.exception_handler(InvalidPhone)
    async def _phone(_: Request, exc: InvalidPhone):
        return JSONResponse(
            {"detail": [{"loc": ["body", "phone"], "msg": str(exc), "type": "value_error.phone"}]}, status_code=422)

    @app.exception_handler(LeadNotFound)
    async def _not_found(_: Request, exc: LeadNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)
