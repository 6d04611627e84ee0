"""Access control across the whole API: every endpoint, walked with every dealer role against a lead
the caller's dealer does not hold (or, for a consultant, is not assigned to), answers exactly what it
answers for a lead that does not exist, and never a byte of the lead nor of the dealer that holds it."""

from __future__ import annotations

import enum
import json
import re

from api.routes.queues import QUEUES
from domain import commands as c
from domain.customers import mask_phone, normalize_phone
from tests.conftest import password_for
from tests.fixtures import DEALERS
from tests.test_api import api, auth, body

OUTSIDERS = ["d-sh-2-mgr", "d-sh-2-opslead", "d-sh-2-c1", "d-gz-1-mgr", "d-gz-1-c1",
             "d-sh-1-c2"]  # the last: the holding dealer's consultant the lead is not assigned to
OTHER_DEALERS = [u for u in OUTSIDERS if not u.startswith("d-sh-1")]
UNKNOWN = "lead-aurora-0123456789abcdef0123"  # shaped like a lead id, no such lead
NAMES = {d.id: d.name for d in DEALERS}


def sample(model) -> dict:
    """A valid body for a command: every required field filled with a plausible value."""
    out = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            out[name] = next(iter(kind)).value
        elif kind is bool:
            out[name] = True
        elif kind in (int, float):
            out[name] = 1
        else:
            out[name] = "d-sh-1-c1" if name == "consultant_id" else "reason"
    return out


def bodies(customer: int) -> dict[tuple[str, str], object]:
    """Bodies for the endpoints that are not lead actions, keyed by (method, path template)."""
    same_customer = body(customer, external_id="walk-in-2", channel="walk_in")
    return {
        ("POST", "/v1/leads"): same_customer,
        ("POST", "/v1/leads/batch"): {"items": [same_customer]},
        ("POST", "/v1/behaviour-events"): {"brand": "aurora", "phone": same_customer["phone"], "event_id": "e1",
                                           "kind": "page_view"},
        ("POST", "/v1/leads/{lead_id}/behaviour-events"): {"event_id": "e2", "kind": "page_view"},
        ("POST", "/v1/dealers"): {"id": "D-NEW", "name": "New", "brand": "aurora", "region": "East", "city": "Suzhou"},
        ("PATCH", "/v1/dealers/{dealer_id}"): {"capacity": 1},
        ("PUT", "/v1/dealers/{dealer_id}/stock"): {"stock": {"A5": 1}},
        ("POST", "/v1/dealers/{dealer_id}/consultants"): {"user_id": "intruder", "name": "Intruder"},
        ("PATCH", "/v1/consultants/{user_id}"): {"on_duty": False},
        ("POST", "/v1/webhooks"): {"url": "https://example.com/hook", "event_types": ["lead.dispatched"]},
        ("POST", "/v1/calendar/{year}/schedule"): [{"date": "2027-02-13", "kind": "workday"}],
        ("PUT", "/v1/calendar/days/{day}"): {"kind": "workday", "name": "调休"},
        ("POST", "/v1/policies/drafts"): {"reason": "x", "changes": {}},
        ("POST", "/v1/policies/{version}/approve"): {},
        ("POST", "/v1/policies/{version}/reject"): {"note": "no"},
        ("POST", "/v1/policies/{version}/migrations"): {"query": "Region='East'", "reason": "x"},
        ("POST", "/v1/simulations"): {"version": 1},
        # sign-in (api/routes/auth.py): a wrong current password, another dealer's consultant, an unknown link;
        # signing in is the outsider's own (valid) sign-in: nothing of D-SH-1 in it
        ("POST", "/v1/auth/login"): {"login": "d-sh-2-mgr", "password": password_for("d-sh-2-mgr")},
        ("POST", "/v1/auth/password"): {"current_password": "not-the-password", "new_password": "a-new-password"},
        ("POST", "/v1/auth/invites"): {"user_id": "intruder-2", "name": "Intruder", "role": "consultant",
                                       "dealer_id": "D-SH-1"},
        ("POST", "/v1/auth/resets"): {"user_id": "d-sh-1-c1"},
        ("POST", "/v1/auth/accept"): {"ticket": "no-such-ticket", "password": "whatever-1234"},
        ("POST", "/v1/auth/tokens"): {"name": "intruder", "role": "consultant", "dealer_id": "D-SH-1"},
        ("POST", "/v1/push/targets"): {"kind": "wecom", "name": "team", "config": {"webhook_url": "https://example.com/r?key=k"}},
        ("PUT", "/v1/push/preferences"): {"channels": ["webpush"]},
        ("POST", "/v1/push/subscriptions"): {"endpoint": "https://push.example.com/s/1",
                                             "keys": {"p256dh": "B" * 87, "auth": "A" * 22}},
        ("POST", "/v1/push/subscriptions/delete"): {"endpoint": "https://push.example.com/s/1"},
        ("PATCH", "/v1/ownerships/{ownership_id}"): {"birthday": "1990-01-01"},
        ("POST", "/v1/ownerships/{ownership_id}/events"): {"event_id": "dms-1", "kind": "service_visit"},
        ("POST", "/v1/ownerships/{ownership_id}/stop"): {"reason": "sold"},
        ("POST", "/v1/ownerships/{ownership_id}/consent"): {"purpose": "service", "granted": True, "source": "app"},
        ("POST", "/v1/owner-care/sms-reply"): {"phone": same_customer["phone"], "text": "TD"},
    }


def operations(app) -> list[tuple[str, str, bool]]:
    """(method, path template, takes a body) for every operation the API publishes."""
    return [(method.upper(), path, "requestBody" in op)
            for path, item in app.openapi()["paths"].items() for method, op in item.items()]


def paths(template: str, lead_id: str) -> list[str]:
    values = {"lead_id": [lead_id], "dealer_id": ["D-SH-1"], "user_id": ["d-sh-1-c1"], "queue": list(QUEUES),
              "year": ["2027"], "day": ["2027-02-13"], "version": ["1"],
              "token_id": ["1"]}
    out = [template]
    for name in re.findall(r"{(\w+)}", template):
        out = [p.replace(f"{{{name}}}", v) for p in out for v in values.get(name, ["x"])]
    return out


async def test_no_endpoint_shows_or_touches_a_lead_to_a_dealer_role_that_does_not_hold_it(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(900), headers=auth("ops"))).json()["lead_id"]
        for action, payload in (("acknowledge", None), ("assign", {"consultant_id": "d-sh-1-c1"})):
            done = await http.post(f"/v1/leads/{lead_id}/{action}", json=payload, headers=auth("d-sh-1-mgr"))
            assert done.status_code == 200, done.text
        before, timeline_before = await L.state(lead_id), len(L.timeline(lead_id))
        phone = normalize_phone(before.profile.phone)
        secrets = [lead_id, before.profile.customer_name, phone, phone[-8:], mask_phone(phone)]
        payloads = bodies(900)
        commands = {f"/v1/leads/{{lead_id}}/{name.replace('_', '-')}": sample(model)
                    for name, model in c.COMMAND_TYPES.items()}
        walked = compared = 0
        for method, template, takes_body in operations(http._transport.app):
            payload = commands.get(template, payloads.get((method, template)))
            if takes_body and payload is None:
                raise AssertionError(f"give {method} {template} a valid body in this test")
            for path in paths(template, lead_id):
                for user in OUTSIDERS:
                    answer = await http.request(method, path, json=payload, headers=auth(user))
                    walked += 1
                    where = f"{method} {path} as {user}: {answer.status_code} {answer.text[:300]}"
                    if user in OTHER_DEALERS:  # not its id, not its name, anywhere, errors included
                        said = answer.text.replace("未找到经销商 D-SH-1", "").replace(  # only echoing the path it asked
                            '"params":{"thing":"dealer","id":"D-SH-1"}', "")
                        assert "D-SH-1" not in said and NAMES["D-SH-1"] not in said, "another dealer's data: " + where
                    if "{lead_id}" in template:  # not-yours answers exactly what unknown answers
                        unknown = await http.request(method, path.replace(lead_id, UNKNOWN), json=payload,
                                                     headers=auth(user))
                        compared += 1
                        assert (answer.status_code, answer.text) == (
                            unknown.status_code, unknown.text.replace(UNKNOWN, lead_id)), \
                            f"{where} differs from an unknown lead's {unknown.status_code} {unknown.text[:300]}"
                    if answer.status_code >= 400:
                        assert answer.status_code in (403, 404), where
                        continue
                    assert answer.status_code in (200, 201), where
                    assert not any(s in answer.text for s in secrets), "leaked: " + where
        assert walked >= 45 * len(OUTSIDERS)  # every operation (and every queue) with every outsider
        assert compared >= 25 * len(OUTSIDERS)  # every route that names a lead, actions included
        after = await L.state(lead_id)
        new = L.timeline(lead_id)[timeline_before:]
        assert set(new) <= {"raw_lead_merged", "scored",
                            "notified_lead_heated_up"} and new.count("raw_lead_merged") == 1, new  # the walk-in, once
        assert (after.stage, after.dealer_id, after.consultant_id) == (before.stage, "D-SH-1", "d-sh-1-c1")


async def test_the_holding_dealer_and_the_assigned_consultant_do_see_the_lead(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(901), headers=auth("ops"))).json()["lead_id"]
        assert (await http.get(f"/v1/leads/{lead_id}",
                               headers=auth("d-sh-1-c1"))).status_code == 404  # not yet assigned
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await http.post(f"/v1/leads/{lead_id}/assign", json={"consultant_id": "d-sh-1-c1"}, headers=auth("d-sh-1-mgr"))
        for user in ("d-sh-1-mgr", "d-sh-1-opslead", "d-sh-1-c1", "ops", "rev-1", "rm-east", "cc"):
            detail = await http.get(f"/v1/leads/{lead_id}", headers=auth(user))
            assert detail.status_code == 200 and detail.json()["customer"]["phone"].startswith("+86"), user
        followed = await http.post(f"/v1/leads/{lead_id}/log-follow-up", json={"channel": "call"},
                                   headers=auth("d-sh-1-c2"))
        unknown = await http.post(f"/v1/leads/{UNKNOWN}/log-follow-up", json={"channel": "call"},
                                  headers=auth("d-sh-1-c2"))
        # the dealer's other consultant may not see it: answered as a lead that does not exist
        assert followed.status_code == unknown.status_code == 404
        assert followed.json() == {"detail": f"未找到线索 {lead_id}", "code": "error.not_found",
                                   "params": {"thing": "lead", "id": lead_id}}
        assert unknown.json() == {"detail": f"未找到线索 {UNKNOWN}", "code": "error.not_found",
                                  "params": {"thing": "lead", "id": UNKNOWN}}
        forbidden = await http.post(f"/v1/leads/{lead_id}/review-defeat-application", json={"approve": True},
                                    headers=auth("d-sh-1-c1"))
        assert forbidden.status_code == 403  # a lead one may see: the role's refusal is said as it is


async def test_a_dealer_entering_a_customer_another_dealer_follows_learns_only_that(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(902), headers=auth("ops"))).json()["lead_id"]
        walk_in = await http.post("/v1/leads", json=body(902, external_id="w-1", channel="walk_in"),
                                  headers=auth("d-gz-1-mgr"))
        assert walk_in.status_code == 200
        assert walk_in.json() == {"lead_id": None, "outcome": "accepted", "stage": None, "dealer_id": None,
                                  "previous_lead_id": None, "repeat": False}
        state = await L.state(lead_id)
        assert [t.key for t in state.touchpoints][-1] == "walk_in:w-1" and state.dealer_id == "D-SH-1"


async def test_a_dealer_sees_its_own_dispatch_line_and_nothing_of_other_or_earlier_dealers(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(1903), headers=auth("ops"))).json()["lead_id"]
        first = (await L.state(lead_id)).dealer_id
        others = [d for d in NAMES if d != first]
        view = (await http.get(f"/v1/leads/{lead_id}", headers=auth(f"{first.lower()}-mgr"))).json()
        assert view["dispatch"]["rank"] == 1 and view["dispatch"]["considered"] == 3  # Pudong, Minhang, Hangzhou
        assert set(view["dispatch"]["factors"]) >= {"conversion", "rating", "load"}
        text = json.dumps(view, ensure_ascii=False)
        assert "candidates" not in text
        assert not any(d in text or NAMES[d] in text for d in others), text
        oem = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        dispatched = next(e for e in oem["timeline"] if e["kind"] == "dispatched")
        assert len(dispatched["data"]["candidates"]) == 3 and oem["dispatch"]["rank"] == 1  # the OEM sees all

        # the first dealer asks for a transfer, lead ops approve: the lead goes to another dealer
        asked = await http.post(f"/v1/leads/{lead_id}/request-transfer",
                                json={"reason": "region_mismatch", "text": "far"},
                                headers=auth(f"{first.lower()}-mgr"))
        assert asked.status_code == 200, asked.text
        approved = await http.post(f"/v1/leads/{lead_id}/review-transfer", json={"approve": True, "explanation": "ok"},
                                   headers=auth("ops"))
        assert approved.status_code == 200, approved.text
        await L.settle(lead_id)
        second = (await L.state(lead_id)).dealer_id
        assert second not in (None, first)
        later = await http.get(f"/v1/leads/{lead_id}", headers=auth(f"{second.lower()}-mgr"))
        assert later.status_code == 200
        text = later.text
        assert first not in text and NAMES[first] not in text, "an earlier holder: " + text  # nor its penalties
        assert [h["dealer_id"] for h in later.json()["holdings"]] == [second]
        assert later.json()["dispatch"]["considered"] == 2  # the earlier holder is not considered again
        assert not any(d in text or NAMES[d] in text for d in NAMES if d != second)
        everything = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        assert [h["dealer_id"] for h in everything["holdings"]] == [first, second]  # the OEM: every holder
