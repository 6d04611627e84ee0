"""The dealer portal and OEM console: the pages are served by the API process, /v1/me says who is signed
in, /v1/clocks gives a list's countdowns, and /v1/stream pushes what changed to whoever may see it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from api.routes import pages  # noqa: F401
from api.stream import StreamHub
from tests.fixtures import actor
from tests.test_api import api, auth, body

PAGES_FILES = ["app.js", "api.js", "i18n.js", "charts.js", "countdown.js", "dom.js", "forms.js", "live.js",
               "session.js",
               "style.css", "views/lists.js", "views/detail.js", "views/oem.js"]


class Stream:
    """GET /v1/stream driven at the ASGI level: httpx's ASGI transport hands a response over only once it
    has ended, and this one does not end while the page is open."""

    def __init__(self, app, query: str = "", headers: dict[str, str] | None = None):
        self.app, self.left = app, asyncio.Event()
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.status: int | None = None
        self.buffer = ""
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/v1/stream", "raw_path": b"/v1/stream", "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"leadflow")] + [(k.lower().encode(),
                                                    v.encode()) for k, v in (headers or {}).items()],
            "server": ("leadflow", 80), "client": ("127.0.0.1", 50000),
        }
        self.requested = False

    async def _receive(self):
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            await self.chunks.put(message.get("body", b""))
            if not message.get("more_body", False):
                await self.chunks.put(None)

    async def __aenter__(self):
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        return self

    async def __aexit__(self, *exc):
        self.left.set()  # the browser tab closes
        await asyncio.wait_for(self.task, timeout=10)

    async def events(self, seconds: float):
        """(event, data) pairs, until `seconds` have passed or the response ended."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            while "\n\n" in self.buffer:
                block, self.buffer = self.buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
                              and ": " in line)
                if "event" in fields:
                    yield fields["event"], json.loads(fields["data"])
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            try:
                chunk = await asyncio.wait_for(self.chunks.get(), timeout=left)
            except TimeoutError:
                return
            if chunk is None:
                return
            self.buffer += chunk.decode()

    async def until(self, wanted, seconds: float = 15) -> list[tuple[str, dict]]:
        """Every event up to and including the first one `wanted` accepts (or all of them at the timeout)."""
        seen = []
        async for event in self.events(seconds):
            seen.append(event)
            if wanted(event):
                break
        return seen


async def test_the_portal_page_and_its_files_are_served_beside_the_api(env, engine):
    async with api(env, engine) as (http, L):
        page = await http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/web/app.js">' in page.text
        for name in PAGES_FILES:
            served = await http.get(f"/web/{name}")
            assert served.status_code == 200, name
            assert served.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript",
                                                                    "text/css"}
        assert (await http.get("/web/nothing.js")).status_code == 404
        assert (await http.get("/docs")).status_code == 200
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "/v1/me" in paths and "/v1/leads/{lead_id}/log-follow-up" in paths
        assert "/v1/stream" not in paths  # a stream that never ends is no operation for clients or fuzzers


async def test_me_says_who_is_signed_in_and_where_the_temporal_ui_is(env, engine):
    async with api(env, engine) as (http, L):
        ops = (await http.get("/v1/me", headers=auth("ops"))).json()
        assert ops["user_id"] == "ops" and ops["role"] == "lead_ops" and ops["dealer_id"] is None
        assert ops["temporal_ui_url"].startswith("http") and ops["temporal_namespace"]
        assert ops["server_time"].endswith(("Z", "+00:00"))
        consultant = (await http.get("/v1/me", headers=auth("d-sh-1-c1"))).json()
        assert (consultant["role"], consultant["dealer_id"], consultant["region"]) == ("consultant", "D-SH-1", "East")
        manager = (await http.get("/v1/me", headers=auth("rm-south"))).json()
        assert (manager["role"], manager["region"]) == ("regional_manager", "South")
        assert (await http.get("/v1/me")).status_code == 401
        assert (await http.get("/v1/me", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_a_list_gets_the_open_clocks_of_the_leads_the_caller_may_see_only(env, engine):
    async with api(env, engine) as (http, L):
        shanghai = (await http.post("/v1/leads", json=body(520), headers=auth("ops"))).json()["lead_id"]
        guangzhou = (await http.post("/v1/leads", json=body(521, city="Guangzhou"), headers=auth("ops"))).json()
        assert guangzhou["dealer_id"] == "D-GZ-1"
        ids = {"lead_id": [shanghai, guangzhou["lead_id"]]}
        mine = (await http.get("/v1/clocks", params=ids, headers=auth("d-sh-1-mgr"))).json()
        assert [x["lead_id"] for x in mine] == [shanghai]
        assert {c["name"] for c in mine[0]["clocks"]} == {"receipt", "first_response", "first_deep_contact",
                                                          "store_invitation"}
        assert all(c["deadline"] and not c["paused"] for c in mine[0]["clocks"])
        everything = (await http.get("/v1/clocks", params=ids, headers=auth("ops"))).json()
        assert {x["lead_id"] for x in everything} == set(ids["lead_id"])
        assert (await http.get("/v1/clocks", params={"lead_id": "bad id!"}, headers=auth("ops"))).status_code == 422


async def test_the_stream_refuses_a_bad_or_missing_token(env, engine):
    async with api(env, engine) as (http, L):
        assert (await http.get("/v1/stream", params={"token": "nope"})).status_code == 401
        assert (await http.get("/v1/stream")).status_code == 401
        assert (await http.get("/v1/stream", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_the_stream_tells_a_dealer_of_its_own_leads_and_alerts_and_never_of_another_dealers(env, engine):
    async with api(env, engine) as (http, L):
        app = http._transport.app
        async with Stream(app, query="token=token-d-sh-1-mgr") as stream:
            ready = await stream.until(lambda e: e[0] == "ready")
            assert stream.status == 200 and ready[-1][0] == "ready"
            ours = (await http.post("/v1/leads", json=body(530), headers=auth("ops"))).json()["lead_id"]
            theirs = (await http.post("/v1/leads", json=body(531, city="Guangzhou"), headers=auth("ops"))).json()
            assert theirs["dealer_id"] == "D-GZ-1"
            assert (await http.post(f"/v1/leads/{theirs['lead_id']}/acknowledge",
                                    headers=auth("d-gz-1-mgr"))).status_code == 200
            assert (await http.post(f"/v1/leads/{ours}/acknowledge", headers=auth("d-sh-1-mgr"))).status_code == 200
            seen = await stream.until(lambda e: e == ("lead", {"lead_id": ours, "stage": "acknowledged",
                                                               "updated_at": e[1].get("updated_at")}))
            seen += [e async for e in stream.events(2.5)]  # time for anything about the other lead to show up
        leads = [data for event, data in seen if event == "lead"]
        assert {d["stage"] for d in leads if d["lead_id"] == ours} >= {"acknowledged"}
        notes = [data for event, data in seen if event == "notification"]
        assert {(n["kind"], n["lead_id"]) for n in notes} >= {("lead_dispatched", ours)}
        assert theirs["lead_id"] not in json.dumps(seen)


async def test_the_stream_also_takes_the_token_in_the_header(env, engine):
    async with api(env, engine) as (http, L):
        async with Stream(http._transport.app, headers={"Authorization": "Bearer token-ops"}) as stream:
            await stream.until(lambda e: e[0] == "ready")
            lead_id = (await http.post("/v1/leads", json=body(532), headers=auth("ops"))).json()["lead_id"]
            seen = await stream.until(lambda e: e[0] == "lead" and e[1]["lead_id"] == lead_id)
        assert seen[-1][1]["lead_id"] == lead_id and seen[-1][1]["stage"] == "dispatched"


def drain(sub) -> list[tuple[str, dict]]:
    out = []
    while not sub.queue.empty():
        _, event, data = sub.queue.get_nowait()
        out.append((event, data))
    return out


async def test_a_consultant_hears_when_a_lead_leaves_their_sight(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(533), headers=auth("ops"))).json()["lead_id"]
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await http.post(f"/v1/leads/{lead_id}/assign", json={"consultant_id": "d-sh-1-c1"}, headers=auth("d-sh-1-mgr"))
        hub = StreamHub(engine)
        hub._begin()
        (first, _), (second, _) = hub.subscribe(actor("d-sh-1-c1")), hub.subscribe(actor("d-sh-1-c2"))
        for change in hub._read():
            hub._publish(change)
        assert drain(first) == [] and drain(second) == []
        await http.post(f"/v1/leads/{lead_id}/assign", json={"consultant_id": "d-sh-1-c2"}, headers=auth("d-sh-1-mgr"))
        for change in hub._read():
            hub._publish(change)
        assert [e for e in drain(first) if e[0] == "lead"] == [("lead",
                                                                {"lead_id": lead_id, "stage": None,
                                                                 "updated_at": None})]
        [(event, data)] = [e for e in drain(second) if e[0] == "lead"]
        assert data["lead_id"] == lead_id and data["stage"] == "assigned"


async def test_the_team_view_counts_each_consultants_breached_leads(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(540), headers=auth("ops"))).json()["lead_id"]
        on_time = (await http.post("/v1/leads", json=body(541), headers=auth("ops"))).json()["lead_id"]
        for lead, consultant in ((lead_id, "d-sh-1-c1"), (on_time, "d-sh-1-c2")):
            await http.post(f"/v1/leads/{lead}/acknowledge", headers=auth("d-sh-1-mgr"))
            await http.post(f"/v1/leads/{lead}/assign", json={"consultant_id": consultant}, headers=auth("d-sh-1-mgr"))
        await http.post(f"/v1/leads/{on_time}/log-follow-up", json={"channel": "call", "duration_minutes": 5},
                        headers=auth("d-sh-1-c2"))
        await L.sleep(timedelta(minutes=16))  # the first response is 15 minutes: c1 did not call
        await L.settle(lead_id)
        await L.settle(on_time)
        team = {c["user_id"]: c for c in (await http.get("/v1/dealers/D-SH-1/consultants",
                                                         headers=auth("d-sh-1-mgr"))).json()}
        assert (team["d-sh-1-c1"]["open_leads"], team["d-sh-1-c1"]["breached_leads"]) == (1, 1)
        assert (team["d-sh-1-c2"]["open_leads"], team["d-sh-1-c2"]["breached_leads"]) == (1, 0)
