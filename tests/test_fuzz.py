"""The OEM's tester fuzzes the published OpenAPI schema with a generic fuzzer and expects no 500 and
no answer outside the schema: bad input is a clear 4xx (422 naming the field, 409, 404, 403, 413),
never a 500, never a half-applied change.

The first test is such a fuzzer (schemathesis): every operation, as lead ops and as a dealer manager,
with generated valid and invalid data, schemathesis' coverage cases (boundaries, missing and wrong
parameters), and what generic fuzzers throw at an API beyond the schema: NUL and lone UTF-16
surrogates in strings, NaN and Infinity in JSON, huge numbers, very long strings, dates at the ends
of time, wrong content types, undecodable bodies, a body over the size limit. Each answer goes
through schemathesis' checks: no server error, a documented status, content type and headers, a body
matching the declared schema, and invalid data refused. The tests after it pin each class of bug it
found, one by one.

Hypothesis runs in a worker thread (its tests are synchronous); each request goes back to the test's
event loop, where the Temporal test server, the lab's worker and the app live.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import quote_all
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.edge import MAX_BODY_BYTES
from db.models import Dealer, WebhookSubscription
from tests.conftest import token_for
from tests.test_api import api, auth, body
from workflows import gateway

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
USERS = ("ops", "d-sh-1-mgr")  # sees every lead; sees one dealer's
SCALE = int(os.environ.get("LEADFLOW_FUZZ_SCALE", "1"))  # e.g. 20 for a longer hunt by hand (~8 min); CI runs 1 (~40 s)
EXAMPLES = 12 * SCALE  # hypothesis examples per operation: valid and invalid, as either user
COVERAGE = 20 * SCALE  # schemathesis coverage cases per operation, spread over all it makes, the users taking turns
EXAMPLE_IDS = {"dealer_id": "D-SH-1", "user_id": "d-sh-1-c1", "queue": "cleansing", "webhook_id": "wh-none"}


@dataclass
class Finding:
    user: str
    request: str
    status: int | str
    answer: str
    problem: str

    def __str__(self) -> str:
        text = f"as {self.user}: {self.request}\n  -> {self.status} {self.answer}\n  {self.problem}"
        return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)


@dataclass
class Fuzzer:
    http: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    schema: Any
    lead_id: str
    findings: list[Finding] = field(default_factory=list)
    sent: int = 0
    lead_ids: set[str] = field(default_factory=set)  # leads the fuzzer took in: the lab ends them

    # -------------------------------------------------------------- sending and checking

    def send(self, case, user: str, *, content: bytes | None = None, content_type: str | None = None,
             must_refuse: str | None = None) -> httpx.Response | None:
        """Send the case (or `content` for its operation), check the answer; never raises."""
        kwargs = case.as_transport_kwargs(base_url="http://leadflow")
        headers = {k: v for k, v in kwargs["headers"].items() if k.lower() not in ("user-agent",
                                                                                   "x-schemathesis-testcaseid")}
        if not _targets_auth(case):
            headers["Authorization"] = f"Bearer {token_for(user)}"
        if content is None:
            content = kwargs.get("data")
            if "json" in kwargs:
                content = json.dumps(kwargs["json"]).encode()  # NaN and lone surrogates as JSON writes them
        if content_type is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if content_type:
                headers["Content-Type"] = content_type
        params = [(k, v) for k, values in (kwargs.get("params") or {}).items() if values is not None
                  for v in (values if isinstance(values, list) else [values])]
        url = _with_query(kwargs["url"], params)
        described = (f"{kwargs['method']} {url} {_preview(headers.get('Content-Type') or headers.get('content-type'))} "
                     f"{_preview(content)}")
        self.sent += 1
        try:
            request = self.http.request(kwargs["method"], url, headers=headers, content=content)
            response = asyncio.run_coroutine_threadsafe(request, self.loop).result(timeout=120)
        except Exception as err:  # noqa: BLE001 - an exception out of the app is the server error being looked for
            self.findings.append(Finding(user, described, "exception", repr(err)[:500], "the app raised"))
            return None
        problems = []
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            problems += [f"{type(f).__name__}: {f.title}" for f in group.exceptions]
        if must_refuse and response.status_code < 400:
            problems.append(f"accepted {must_refuse}: it must be refused with a 4xx")
        for problem in problems:
            self.findings.append(Finding(user, described, response.status_code, response.text[:300], problem))
        self._note_leads(response)
        return response

    def _note_leads(self, response: httpx.Response) -> None:
        if response.status_code >= 300 or "json" not in response.headers.get("content-type", ""):
            return
        answer = response.json()
        for item in [answer, *(answer.get("results", []) if isinstance(answer, dict) else [])]:
            if isinstance(item, dict) and isinstance(item.get("lead_id"), str):
                self.lead_ids.add(item["lead_id"])

    # -------------------------------------------------------------- what is sent

    def run(self) -> None:
        for operation in (result.ok() for result in self.schema.get_all_operations()):
            self.generated(operation)
            for i, case in enumerate(self.coverage(operation)):
                self.send(case, USERS[i % len(USERS)])
            self.beyond_the_schema(operation)

    def generated(self, operation) -> None:
        """Hypothesis' valid and invalid requests, as either user; a lead path names the real lead half the time."""
        paths = [None, {"lead_id": self.lead_id}] if "{lead_id}" in operation.path else [None]
        strategies = [operation.as_strategy(generation_mode=mode, path_parameters=path)
                      for mode in self._modes(operation) for path in paths]

        @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                             phases=[Phase.generate], suppress_health_check=list(HealthCheck),
                             verbosity=Verbosity.quiet)
        @hypothesis.given(case=st.one_of(strategies), user=st.sampled_from(USERS))
        def one(case, user: str) -> None:
            self.send(case, user)

        one()

    @staticmethod
    def _modes(operation) -> list[GenerationMode]:
        """Invalid data only where there is something to make invalid (not for an operation without parameters)."""
        has_input = operation.body or any(p.location != ParameterLocation.HEADER for p in operation.iter_parameters())
        return list(GenerationMode) if has_input else [GenerationMode.POSITIVE]

    def coverage(self, operation) -> list:
        cases = list(CoverageGenerator(
            operation=operation, generation_modes=list(GenerationMode),
            generation_config=self.schema.config.generation_for(operation=operation, phase="coverage"),
            auth_storage=None, override=Override(), feedback=FeedbackSources()))
        step = max(1, math.ceil(len(cases) / COVERAGE))
        return cases[::step]

    def base(self, operation):
        """A valid request for the operation, on real ids (the real lead, a real dealer) to reach its code."""
        path = {p.name: (self.lead_id if p.name == "lead_id" else EXAMPLE_IDS.get(p.name, "x"))
                for p in operation.iter_parameters() if p.location == ParameterLocation.PATH}
        positive = next(iter(CoverageGenerator(
            operation=operation, generation_modes=[GenerationMode.POSITIVE],
            generation_config=self.schema.config.generation_for(operation=operation, phase="coverage"),
            auth_storage=None, override=Override(), feedback=FeedbackSources())), None)
        if positive is None:
            return operation.Case(path_parameters=path)
        return operation.Case(path_parameters=path, query=dict(positive.query or {}), body=positive.body,
                              media_type=positive.media_type)

    def beyond_the_schema(self, operation) -> None:
        """What generic fuzzers send besides the schema's own data, as lead ops."""
        base = self.base(operation)
        for name in base.path_parameters or {}:
            for bad, why in (("a\x00b", "a NUL in the path"), (".", None), ("..", None), ("x" * 5000, None)):
                self.send(_with(base, path={name: bad}), "ops", must_refuse=why)
        for parameter in operation.iter_parameters():
            if parameter.location != ParameterLocation.QUERY:
                continue
            for bad, why in _bad_query_values(parameter.definition.get("schema", {})):
                self.send(_with(base, query={parameter.name: bad}), "ops", must_refuse=why)
        if base.body is NOT_SET or not isinstance(base.body, dict):
            return
        strings = [p for p, v in _leaves(base.body) if isinstance(v, str)]
        numbers = [p for p, v in _leaves(base.body) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for text, why in (("a\x00b", "a NUL in the body"), ("\ud800", "a lone surrogate in the body")):
            for path in strings[:4]:
                self.send(_with(base, body=_replace(base.body, path, text)), "ops", must_refuse=why)
            self.send(_with(base, body=base.body | {text: "x"}), "ops", must_refuse=why + " (a key)")
        if strings:
            self.send(_with(base, body=_replace_all(base.body, strings, "長" * 20_000)), "ops")
        for number, why in ((math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (10 ** 40, None)):
            if numbers:
                self.send(_with(base, body=_replace_all(base.body, numbers, number)), "ops", must_refuse=why)
        raw = json.dumps(base.body).encode()
        for content, content_type in ((raw, "text/plain"), (raw, "application/x-www-form-urlencoded"),
                                      (raw, "multipart/form-data; boundary=x"), (raw, ""), (b"", "application/json"),
                                      (b"null", "application/json"), (b"[]", "application/json"),
                                      (raw[: len(raw) // 2], "application/json"),
                                      (b"\xff\xfe\x00{", "application/json"),
                                      (b'{"a": 1e999999}', "application/json"),
                                      (b"[" * 100_000 + b"]" * 100_000, "application/json")):
            self.send(base, "ops", content=content, content_type=content_type)
        over = b'{"items": ["' + b"x" * MAX_BODY_BYTES + b'"]}'
        response = self.send(base, "ops", content=over, content_type="application/json")
        if response is not None and response.status_code != 413:
            self.findings.append(Finding("ops", f"{base.method} {base.formatted_path} ({len(over)} bytes)",
                                         response.status_code, response.text[:200], "a body over the limit is not 413"))


def _targets_auth(case) -> bool:
    """Cases whose point is the Authorization header (missing or malformed) keep what schemathesis made."""
    meta = case.meta
    if meta is None:
        return False
    header = meta.components.get(ParameterLocation.HEADER)
    return bool(header and header.mode.is_negative) or getattr(meta.phase.data, "parameter", None) == "Authorization"


def _bad_query_values(schema: dict) -> Iterator[tuple[str, str | None]]:
    """(value, why it must be refused, or None when a clear 4xx or a 200 will do) for a query parameter."""
    kinds = {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}
    formats = {schema.get("format"), *(s.get("format") for s in schema.get("anyOf", []))}
    yield "a\x00b", "a NUL in the query"
    yield "x" * 5000, None
    if kinds & {"integer", "number"}:
        yield str(10 ** 30), None
        yield str(-(10 ** 30)), None
        yield "NaN", "NaN"
    if formats & {"date-time", "date"}:
        yield "0001-01-01T00:00:00+14:00", "year 1"
        yield "9999-12-31T23:59:59-14:00", "year 9999"
        yield "0", "a number for a date"


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _replace_all(value: Any, paths: list[tuple], new: Any) -> Any:
    for path in paths:
        value = _replace(value, path, new)
    return value


def _with(base, *, path: dict | None = None, query: dict | None = None, body: Any = NOT_SET):
    """The base request with some values replaced; path values percent-encoded as schemathesis sends them
    ("." as %2E: a bare dot segment would be collapsed by the client)."""
    return base.operation.Case(path_parameters=quote_all({**(base.path_parameters or {}), **(path or {})}),
                               query={**(base.query or {}), **(query or {})},
                               body=base.body if body is NOT_SET else body, media_type=base.media_type)


def _with_query(url: str, params: list[tuple[str, Any]]) -> str:
    """The URL with its query percent-encoded by hand: a NUL must arrive as %00, not be refused by the client."""
    if not params:
        return url
    encoded = "&".join(f"{quote(str(k), safe='')}={quote(_wire(v), safe='')}" for k, v in params)
    return f"{url}{'&' if '?' in url else '?'}{encoded}"


def _wire(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _preview(value: Any) -> str:
    if value is None:
        return ""
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(value)} long)"


async def test_the_fuzzer_finds_no_server_error_and_no_answer_outside_the_schema(env, engine):
    load_all_checks()
    schema = schemathesis.openapi.from_dict(create_app().openapi())
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(990), headers=auth("ops"))).json()["lead_id"]
        fuzzer = Fuzzer(http=http, loop=asyncio.get_running_loop(), schema=schema, lead_id=lead_id)
        started = time.perf_counter()
        await asyncio.to_thread(fuzzer.run)
        L.started |= fuzzer.lead_ids
        print(f"fuzzed {fuzzer.sent} requests in {time.perf_counter() - started:.1f} s")
        report = "\n\n".join(str(f) for f in _first_of_each(fuzzer.findings))
        assert not fuzzer.findings, f"{len(fuzzer.findings)} findings; the first of each kind:\n\n{report}"
        assert (await L.state(lead_id)).lead_id == lead_id  # the real lead still answers: no workflow stuck


def _first_of_each(findings: list[Finding]) -> list[Finding]:
    seen: dict[tuple, Finding] = {}
    for finding in findings:
        seen.setdefault((finding.request.split(" ")[0], finding.request.split("?")[0].split(" ")[1][:60],
                         finding.status, finding.problem[:40]), finding)
    return list(seen.values())


# ------------------------------------------------------------------ what the fuzzer found, one class at a time

def _send(http, method: str, path: str, payload: Any, user: str) -> Any:
    """JSON as it is written (NaN, lone surrogates), which httpx's own `json=` would refuse to encode."""
    return http.request(method, path, content=json.dumps(payload).encode(),
                        headers=auth(user) | {"content-type": "application/json"})


def _loc(response: httpx.Response) -> list:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["loc"]


async def test_nul_and_lone_surrogates_are_422_naming_the_field_and_change_nothing(env, engine):
    async with api(env, engine) as (http, L):
        for text in ("a\x00b", "\ud800"):
            refused = await _send(http, "POST", "/v1/leads", body(991) | {"customer_name": text}, "ops")
            assert _loc(refused) == ["body", "customer_name"]
        assert _loc(await _send(http, "POST", "/v1/leads", body(991) | {"\x00": 1}, "ops")) == ["body", "\x00"]
        assert (await http.get("/v1/leads", headers=auth("ops"))).json()["total"] == 0  # nothing was taken in
        assert _loc(await http.get("/v1/leads?region=a%00b", headers=auth("ops"))) == ["query", "region"]
        assert _loc(await http.post("/v1/leads/lead%00x/acknowledge", headers=auth("d-sh-1-mgr"))) == ["path",
                                                                                                       "lead_id"]

        lead_id = (await http.post("/v1/leads", json=body(992), headers=auth("ops"))).json()["lead_id"]
        before = await L.state(lead_id)
        moved = await _send(http, "POST", f"/v1/leads/{lead_id}/reassign",
                            {"dealer_id": "D-SH-2", "reason": "closer\x00"}, "ops")
        assert _loc(moved) == ["body", "reason"] and await L.state(lead_id) == before
        renamed = await _send(http, "PATCH", "/v1/dealers/D-SH-2", {"capacity": 5, "name": "\ud800"}, "ops")
        assert _loc(renamed) == ["body", "name"]
        with Session(engine) as session:
            assert session.get(Dealer, "D-SH-2").capacity == 50  # the valid half was not applied either


@pytest.mark.postgres
async def test_nul_never_reaches_postgresql(env, pg_engine):
    """PostgreSQL refuses NUL in text: before the edge refused it, these were 500s (and a stuck projection)."""
    async with api(env, pg_engine) as (http, L):
        assert _loc(await http.get("/v1/leads", params={"region": "a\x00b"}, headers=auth("ops"))) == ["query",
                                                                                                       "region"]
        hook = await _send(http, "POST", "/v1/webhooks", {"url": "https://example.com/h", "name": "a\x00"}, "ops")
        assert _loc(hook) == ["body", "name"]
        with Session(pg_engine) as session:
            assert session.exec(select(WebhookSubscription)).all() == []


async def test_a_refused_value_is_never_echoed_back(env, engine):
    """A 422 used to carry the value at fault: NaN, Infinity or a lone surrogate cannot be written in JSON
    (the answer became a 500), and a phone number should not come back anyway."""
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(993), headers=auth("ops"))).json()["lead_id"]
        for path, payload, field in (
            ("/v1/leads", body(994) | {"latitude": math.nan}, "latitude"),
            ("/v1/leads", body(994) | {"acquisition_cost": math.inf}, "acquisition_cost"),
            ("/v1/leads", body(994) | {"customer_name": "\ud800" * 100}, "customer_name"),
            (f"/v1/leads/{lead_id}/log-follow-up", {"channel": "call", "duration_minutes": -math.inf},
             "duration_minutes"),
        ):
            refused = await _send(http, "POST", path, payload, "d-sh-1-mgr" if "follow" in path else "ops")
            assert _loc(refused) == ["body", field]
            assert all({"loc", "msg", "type", "code"} <= set(e) <= {"loc", "msg", "type", "code", "params"}
                       for e in json.loads(refused.content.decode("utf-8"))["detail"])


async def test_a_json_body_is_read_with_json_types(env, engine):
    """`0` is not `false`, `"5"` is not a number, a number is not a date-time: the schema says so, so do we."""
    async with api(env, engine) as (http, L):
        off = await http.patch("/v1/consultants/d-sh-1-c1", json={"on_duty": 0}, headers=auth("d-sh-1-mgr"))
        assert _loc(off) == ["body", "on_duty"]
        assert _loc(await http.post("/v1/leads", json=body(995) | {"budget": "220000"},
                                    headers=auth("ops"))) == ["body", "budget"]
        lead_id = (await http.post("/v1/leads", json=body(996), headers=auth("ops"))).json()["lead_id"]
        invite = await http.post(f"/v1/leads/{lead_id}/invite", json={"visit_at": 0}, headers=auth("d-sh-1-mgr"))
        assert _loc(invite) == ["body", "visit_at"]
        batch = await http.post("/v1/leads/batch", json={"items": [body(997) | {"consent": 1}]}, headers=auth("ops"))
        first = batch.json()["results"][0]
        assert first["status"] == "invalid" and first["errors"][0]["loc"] == ["consent"]
        still = await http.get("/v1/dealers/D-SH-1/consultants", headers=auth("d-sh-1-mgr"))
        assert {c["user_id"]: c["on_duty"] for c in still.json()}["d-sh-1-c1"] is True


async def test_query_timestamps_are_iso_read_in_shanghai_without_an_offset_and_within_range(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(998), headers=auth("ops"))).json()["lead_id"]
        created = L.lead_row(lead_id).created_at.replace(tzinfo=None)  # UTC, as SQLite keeps it
        shanghai = (created + timedelta(hours=8)).isoformat()  # the same moment, local and without an offset

        async def leads(**query) -> list[str]:
            answer = await http.get("/v1/leads", params=query, headers=auth("ops"))
            assert answer.status_code == 200, answer.text  # a naive datetime used to be a 500
            return [i["lead_id"] for i in answer.json()["items"]]

        assert await leads(created_from=shanghai) == [lead_id]
        assert await leads(created_to=shanghai) == []
        for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0", "1.5"):
            answer = await http.get("/v1/leads", params={"created_from": value}, headers=auth("ops"))
            assert _loc(answer) == ["query", "created_from"]
            assert _loc(await http.get("/v1/dashboards/sla", params={"to": value}, headers=auth("ops"))) == ["query",
                                                                                                             "to"]
        assert (await http.get("/v1/dashboards/funnel", params={"from": "2026-11-01"},
                               headers=auth("ops"))).status_code == 200


async def test_huge_offsets_are_422_not_an_overflow(env, engine):
    async with api(env, engine) as (http, L):
        for path in ("/v1/queues/cleansing", "/v1/dealers", "/v1/leads"):
            assert _loc(await http.get(path, params={"offset": 10 ** 30}, headers=auth("ops"))) == ["query", "offset"]


async def test_ids_that_are_dot_segments_or_too_long_are_422_not_another_route(env, engine):
    """Fuzzers send "." as %2E; a server decodes it and another route (or a redirect) would answer."""
    async with api(env, engine) as (http, L):
        for method, path, name in (("POST", "/v1/leads/%2E/acknowledge", "lead_id"),
                                   ("GET", "/v1/dealers/%2E%2E", "dealer_id"),
                                   ("GET", "/v1/webhooks/%2E", "webhook_id"),
                                   ("PATCH", "/v1/consultants/%2E", "user_id"),
                                   ("GET", "/v1/dashboards/scorecards/%2E", "dealer_id"),
                                   ("POST", f"/v1/leads/{'x' * 2000}/behaviour-events", "lead_id")):
            answer = await http.request(method, path,
                                        json={"event_id": "e", "kind": "page_view"} if "behaviour" in path else None,
                                        headers=auth("ops"))
            assert _loc(answer) == ["path", name], path


async def test_a_body_over_the_limit_is_413_without_reading_it(env, engine):
    async with api(env, engine) as (http, L):
        big = json.dumps({"items": [body(999) | {"note": "x" * 2000}] * 1000}).encode()
        assert len(big) > MAX_BODY_BYTES
        declared = await http.post("/v1/leads/batch", content=big,
                                   headers=auth("ops") | {"content-type": "application/json"})
        assert declared.status_code == 413 and declared.json()["code"] == "error.http.413"
        sent = []

        async def chunks():  # no Content-Length: counted as it arrives
            for n in range(100):
                sent.append(n)
                yield b"x" * (64 * 1024)

        streamed = await http.post("/v1/leads/batch", content=chunks(),
                                   headers=auth("ops") | {"content-type": "application/json"})
        assert streamed.status_code == 413 and len(sent) < 40  # stopped at ~2 MB of the 6.4 MB
        assert (await http.get("/v1/leads", headers=auth("ops"))).json()["total"] == 0
        typical = json.dumps({"items": [body(n) for n in range(1000)]}).encode()
        assert len(typical) < MAX_BODY_BYTES / 2  # a full batch of ordinary raw leads fits well


async def test_the_workflow_engine_failing_is_503_or_422_never_500(env, engine, monkeypatch):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(989), headers=auth("ops"))).json()["lead_id"]
        for error, status in ((RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""), 503),
                              (WorkflowUpdateRPCTimeoutOrCancelledError(), 503),
                              (RPCError("WorkflowId length exceeds limit", RPCStatusCode.INVALID_ARGUMENT, b""), 422),
                              (RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""), 404)):
            async def failing(*args, _error=error, **kwargs):  # bound now, not at the loop's end
                raise _error

            monkeypatch.setattr(gateway, "act", failing)
            monkeypatch.setattr(gateway, "submit_raw_lead", failing)
            acked = await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
            taken = await http.post("/v1/leads", json=body(988), headers=auth("ops"))
            assert acked.status_code == taken.status_code == status, (error, acked.text)
            if status == 503:
                assert acked.headers["retry-after"] == "1" and acked.json()["code"] == "error.engine_unavailable"
        monkeypatch.undo()
        assert (await L.state(lead_id)).stage == "dispatched"


async def test_a_refusal_for_invalid_input_is_422_in_the_validation_shape(env, engine, monkeypatch):
    async def too_many(*args, **kwargs):
        raise gateway.ActionRefused("customer has more than 100 leads of Aurora", "invalid",
                                    "error.too_many_generations", {"limit": 100, "brand": "Aurora"})

    async with api(env, engine) as (http, L):
        monkeypatch.setattr(gateway, "submit_raw_lead", too_many)
        refused = await http.post("/v1/leads", json=body(987), headers=auth("ops"))
        assert refused.status_code == 422
        assert refused.json()["detail"] == [{"loc": ["body"], "msg": "该客户在 Aurora 下已有超过 100 条线索",
                                             "type": "value_error", "code": "error.too_many_generations",
                                             "params": {"limit": 100, "brand": "Aurora"}}]


async def test_a_cleansing_correction_with_an_unknown_timeframe_is_422_naming_it(env, engine):
    """It used to reach the workflow, whose raw-lead rule refused it as a 409."""
    async with api(env, engine) as (http, L):
        no_city = body(986)
        del no_city["city"]
        lead_id = (await http.post("/v1/leads", json=no_city, headers=auth("ops"))).json()["lead_id"]
        before = await L.state(lead_id)
        assert before.stage == "cleansing"
        corrected = await http.post(f"/v1/leads/{lead_id}/record-cleansing", headers=auth("cc"),
                                    json={"outcome": "verified", "corrections": {"timeframe": "someday"}})
        assert _loc(corrected) == ["body", "corrections", "timeframe"] and await L.state(lead_id) == before


def test_every_error_answer_is_documented_with_its_shape():
    schema = create_app().openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            if operation.get("security"):
                assert "401" in answers, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(answers), (method, path)
            for status, answer in answers.items():
                if status.startswith(("4", "5")):
                    shape = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                    assert shape == ("HTTPValidationError" if status == "422" else "ErrorMessage"), (method, path,
                                                                                                     status)
