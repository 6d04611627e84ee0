"""Sign-in (issue 14 section 1): passwords and sessions, CSRF, login limits, invites and resets, API tokens,
security headers, and the codec for signed-in lead ops."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, select

from api import auth, deps
from api.app import create_app
from db.models import ApiToken, WebSession
from tests.conftest import password_for, token_for
from tests.harness import lab


@asynccontextmanager
async def api(env, engine, base_url: str = "http://leadflow"):
    """The app, and a clock the test moves (`clock[0]`): login limits and links expire by it."""
    clock = [datetime.now(UTC)]
    async with lab(env, engine) as L:
        app = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
        app.dependency_overrides[deps.current_time] = lambda: clock[0]
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
                yield http, clock


def bearer(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


async def sign_in(http: httpx.AsyncClient, user_id: str, password: str | None = None) -> dict[str, str]:
    """Sign in (cookies land in the client's jar); answers the CSRF header for writes."""
    answer = await http.post("/v1/auth/login", json={"login": user_id, "password": password or password_for(user_id)})
    assert answer.status_code == 200, answer.text
    return {auth.CSRF_HEADER: answer.json()["csrf_token"]}


async def test_a_password_sign_in_sets_an_httponly_session_cookie_and_sign_out_ends_it_on_the_server(env, engine):
    async with api(env, engine) as (http, _):
        answer = await http.post("/v1/auth/login", json={"login": "d-sh-1-mgr", "password": password_for("d-sh-1-mgr")})
        assert answer.status_code == 200 and answer.json()["role"] == "dealer_manager"
        cookies = answer.headers.get_list("set-cookie")
        [session_cookie] = [c for c in cookies if c.startswith(f"{auth.SESSION_COOKIE}=")]
        assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
        assert "Secure" not in session_cookie  # plain http here; see the https test below
        [csrf_cookie] = [c for c in cookies if c.startswith(f"{auth.CSRF_COOKIE}=")]
        assert "HttpOnly" not in csrf_cookie
        sid = http.cookies[auth.SESSION_COOKIE]
        me = await http.get("/v1/me")
        assert me.status_code == 200 and me.json()["user_id"] == "d-sh-1-mgr"
        with Session(engine) as session:  # only the hash is stored
            [row] = session.exec(select(WebSession)).all()
            assert row.id_hash != sid and row.user_id == "d-sh-1-mgr" and row.ended_at is None

        out = await http.post("/v1/auth/logout", headers={auth.CSRF_HEADER: answer.json()["csrf_token"]})
        assert out.status_code == 204
        http.cookies.set(auth.SESSION_COOKIE, sid)  # the old cookie again: the server ended the session
        assert (await http.get("/v1/me")).status_code == 401
        with Session(engine) as session:
            assert session.exec(select(WebSession)).one().ended_at is not None

        for wrong in ("nope-nope-nope", ""):
            bad = await http.post("/v1/auth/login", json={"login": "d-sh-1-mgr", "password": wrong})
            assert bad.status_code in (401, 422)
        very_long = await http.post("/v1/auth/login", json={"login": "x" * 254, "password": "whatever-123"})
        assert very_long.status_code == 401
        unknown = await http.post("/v1/auth/login", json={"login": "ghost", "password": "whatever-123"})
        assert unknown.status_code == 401 and unknown.json()["detail"] == "用户名或密码错误"
        by_email = await http.post("/v1/auth/login", json={"login": "ops@example.com", "password": password_for("ops")})
        assert by_email.status_code == 200 and by_email.json()["user_id"] == "ops"


async def test_over_https_the_cookies_are_secure_and_every_answer_carries_hsts(env, engine):
    async with api(env, engine, base_url="https://leadflow") as (http, _):
        answer = await http.post("/v1/auth/login", json={"login": "ops", "password": password_for("ops")})
        assert all("Secure" in c for c in answer.headers.get_list("set-cookie"))
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert (await http.get("/")).headers["strict-transport-security"].startswith("max-age=")


async def test_every_write_made_with_the_session_cookie_needs_the_csrf_token(env, engine):
    async with api(env, engine) as (http, _):
        csrf = await sign_in(http, "ops")
        body = {"name": "crm", "role": "call_center"}
        missing = await http.post("/v1/auth/tokens", json=body)
        assert missing.status_code == 403 and missing.json()["code"] == "error.csrf"
        wrong = await http.post("/v1/auth/tokens", json=body, headers={auth.CSRF_HEADER: "guess"})
        assert wrong.status_code == 403
        assert (await http.post("/v1/auth/tokens", json=body, headers=csrf)).status_code == 201
        assert (await http.get("/v1/auth/tokens")).status_code == 200  # a read needs none
        assert (await http.post("/v1/auth/logout")).status_code == 403  # nor can another site sign you out
        # a bearer token needs no CSRF token: no browser sends that header on its own
        assert (await http.post("/v1/auth/tokens", json=body, headers=bearer("ops-head"))).status_code == 201


async def test_failed_sign_ins_are_limited_per_account_and_per_address_and_unlock_on_a_timer(env, engine):
    async with api(env, engine) as (http, clock):
        for _ in range(4):
            assert (await http.post("/v1/auth/login",
                                    json={"login": "rm-east", "password": "wrong-password"})).status_code == 401
        locked = await http.post("/v1/auth/login", json={"login": "rm-east", "password": "wrong-password"})
        assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 15 * 60
        right = await http.post("/v1/auth/login", json={"login": "rm-east", "password": password_for("rm-east")})
        assert right.status_code == 429  # locked is locked, whatever the password
        assert (await http.post("/v1/auth/login",
                                json={"login": "ops", "password": password_for("ops")})).status_code == 200
        clock[0] += timedelta(minutes=16)  # the lock started a few wall seconds after clock[0]
        assert (await http.post("/v1/auth/login",
                                json={"login": "rm-east", "password": password_for("rm-east")})).status_code == 200

        # per address: 20 failures over many accounts lock the address for every account
        for n in range(19):
            assert (await http.post("/v1/auth/login",
                                    json={"login": f"nobody-{n}", "password": "x"})).status_code == 401
        by_address = await http.post("/v1/auth/login", json={"login": "nobody-x", "password": "x"})
        assert by_address.status_code == 429 and "retry-after" in by_address.headers
        blocked = await http.post("/v1/auth/login", json={"login": "ops", "password": password_for("ops")})
        assert blocked.status_code == 429
        clock[0] += timedelta(minutes=16)
        assert (await http.post("/v1/auth/login",
                                json={"login": "ops", "password": password_for("ops")})).status_code == 200


async def test_users_change_their_own_password_and_their_other_sessions_end(env, engine):
    async with api(env, engine) as (http, _):
        elsewhere = await sign_in(http, "d-sh-1-c1")
        other_sid = http.cookies[auth.SESSION_COOKIE]
        http.cookies.clear()
        csrf = await sign_in(http, "d-sh-1-c1")
        change = {"current_password": "not-my-password", "new_password": "a-new-password-1"}
        assert (await http.post("/v1/auth/password", json=change, headers=csrf)).status_code == 403
        short = await http.post("/v1/auth/password", json={"current_password": password_for("d-sh-1-c1"),
                                                           "new_password": "short"}, headers=csrf)
        assert short.status_code == 422 and "new_password" in short.text
        change["current_password"] = password_for("d-sh-1-c1")
        assert (await http.post("/v1/auth/password", json=change, headers=csrf)).status_code == 204
        assert (await http.get("/v1/me")).status_code == 200  # this session stays
        http.cookies.set(auth.SESSION_COOKIE, other_sid)
        assert (await http.get("/v1/me")).status_code == 401 and elsewhere  # the other one ended
        http.cookies.clear()
        old = await http.post("/v1/auth/login", json={"login": "d-sh-1-c1", "password": password_for("d-sh-1-c1")})
        assert old.status_code == 401
        await sign_in(http, "d-sh-1-c1", "a-new-password-1")


def ticket_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def test_a_manager_invites_a_consultant_of_their_dealer_with_a_single_use_link_that_expires(env, engine):
    async with api(env, engine) as (http, clock):
        mgr = bearer("d-sh-1-mgr")
        made = await http.post("/v1/auth/invites", json={"user_id": "sh1-new", "name": "新顾问", "role": "consultant"},
                               headers=mgr)
        assert made.status_code == 201, made.text
        link = made.json()["link"]
        assert link.startswith("http://leadflow/#/set-password/")
        assert (await http.post("/v1/auth/login",
                                json={"login": "sh1-new", "password": "whatever-123"})).status_code == 401
        accepted = await http.post("/v1/auth/accept", json={"ticket": ticket_of(link), "password": "chosen-password"})
        assert accepted.status_code == 200 and accepted.json()["user_id"] == "sh1-new"
        me = await http.get("/v1/me")
        assert me.json()["dealer_id"] == "D-SH-1" and me.json()["role"] == "consultant"
        again = await http.post("/v1/auth/accept", json={"ticket": ticket_of(link), "password": "another-password"})
        assert again.status_code == 404
        http.cookies.clear()
        await sign_in(http, "sh1-new", "chosen-password")
        http.cookies.clear()

        # what a manager may not do
        as_manager = await http.post("/v1/auth/invites", json={"user_id": "x1", "name": "x", "role": "dealer_manager"},
                                     headers=mgr)
        assert as_manager.status_code == 403
        other_dealer = await http.post("/v1/auth/invites", json={"user_id": "x2", "name": "x", "role": "consultant",
                                                                 "dealer_id": "D-SH-2"}, headers=mgr)
        assert other_dealer.status_code == 404 and "D-SH-2" in other_dealer.text
        taken = await http.post("/v1/auth/invites", json={"user_id": "d-sh-1-c2", "name": "x", "role": "consultant"},
                                headers=mgr)
        assert taken.status_code == 409
        by_consultant = await http.post("/v1/auth/invites", json={"user_id": "x3", "name": "x", "role": "consultant"},
                                        headers=bearer("d-sh-1-c1"))
        assert by_consultant.status_code == 403

        # lead ops invite anyone; a link expires
        anyone = await http.post("/v1/auth/invites", json={"user_id": "hz-boss", "name": "x", "role": "dealer_manager",
                                                           "dealer_id": "D-HZ-1"}, headers=bearer("ops"))
        assert anyone.status_code == 201
        no_dealer = await http.post("/v1/auth/invites", json={"user_id": "x4", "name": "x", "role": "consultant"},
                                    headers=bearer("ops"))
        assert no_dealer.status_code == 422 and "dealer_id" in no_dealer.text
        clock[0] += timedelta(hours=73)
        late = await http.post("/v1/auth/accept",
                               json={"ticket": ticket_of(anyone.json()["link"]), "password": "too-late-123"})
        assert late.status_code == 404


async def test_a_reset_link_sets_a_new_password_once_and_a_manager_resets_only_their_dealers_people(env, engine):
    async with api(env, engine) as (http, clock):
        other = await http.post("/v1/auth/resets", json={"user_id": "d-sh-2-mgr"}, headers=bearer("d-sh-1-mgr"))
        unknown = await http.post("/v1/auth/resets", json={"user_id": "ghost"}, headers=bearer("d-sh-1-mgr"))
        assert other.status_code == unknown.status_code == 404
        assert other.json()["detail"].replace("d-sh-2-mgr", "X") == unknown.json()["detail"].replace("ghost", "X")
        boss = await http.post("/v1/auth/resets", json={"user_id": "d-sh-1-mgr"}, headers=bearer("d-sh-1-mgr"))
        assert boss.status_code == 403  # a manager resets consultants; a manager's own goes through ops
        made = await http.post("/v1/auth/resets", json={"user_id": "d-sh-1-c2"}, headers=bearer("d-sh-1-mgr"))
        assert made.status_code == 201
        await sign_in(http, "d-sh-1-c2")  # a session from before the reset ...
        old_sid = http.cookies[auth.SESSION_COOKIE]
        http.cookies.clear()
        done = await http.post("/v1/auth/accept",
                               json={"ticket": ticket_of(made.json()["link"]), "password": "reset-password-1"})
        assert done.status_code == 200
        http.cookies.set(auth.SESSION_COOKIE, old_sid)
        assert (await http.get("/v1/me")).status_code == 401  # ... ends with it
        http.cookies.clear()
        await sign_in(http, "d-sh-1-c2", "reset-password-1")
        by_ops = await http.post("/v1/auth/resets", json={"user_id": "d-sh-2-mgr"}, headers=bearer("ops"))
        assert by_ops.status_code == 201
        clock[0] += timedelta(hours=3)
        assert (await http.post("/v1/auth/accept", json={"ticket": ticket_of(by_ops.json()["link"]),
                                                         "password": "too-late-123"})).status_code == 404


async def test_api_tokens_are_scoped_shown_once_listed_with_their_last_use_and_revocable(env, engine):
    async with api(env, engine) as (http, _):
        made = await http.post("/v1/auth/tokens", json={"name": "dms-sync", "role": "dealer_ops_lead"},
                               headers=bearer("d-sh-1-mgr"))
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert made.json()["dealer_id"] == "D-SH-1" and made.json()["last_used_at"] is None
        with Session(engine) as session:
            assert token not in str(session.exec(select(ApiToken)).one().model_dump())
        me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "dealer_ops_lead" and me.json()["dealer_id"] == "D-SH-1"
        listed = (await http.get("/v1/auth/tokens", headers=bearer("d-sh-1-mgr"))).json()
        assert [t["name"] for t in listed] == ["dms-sync"] and listed[0]["last_used_at"] is not None
        assert "token" not in listed[0]
        assert (await http.get("/v1/auth/tokens", headers=bearer("d-sh-2-mgr"))).json() == []  # nothing of others
        assert (await http.delete(f"/v1/auth/tokens/{made.json()['id']}",
                                  headers=bearer("d-sh-2-mgr"))).status_code == 404
        revoked = await http.delete(f"/v1/auth/tokens/{made.json()['id']}", headers=bearer("d-sh-1-mgr"))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert (await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401

        assert (await http.post("/v1/auth/tokens", json={"name": "x", "role": "lead_ops"},
                                headers=bearer("d-sh-1-mgr"))).status_code == 403
        assert (await http.post("/v1/auth/tokens", json={"name": "x", "role": "consultant", "dealer_id": "D-SH-2"},
                                headers=bearer("d-sh-1-mgr"))).status_code == 404
        assert (await http.post("/v1/auth/tokens", json={"name": "x", "role": "consultant"},
                                headers=bearer("d-sh-1-c1"))).status_code == 403
        assert (await http.post("/v1/auth/tokens", json={"name": "x", "role": "system"},
                                headers=bearer("ops"))).status_code == 403
        assert (await http.post("/v1/auth/tokens", json={"name": "x", "role": "nobody"},
                                headers=bearer("ops"))).status_code == 422
        # the users' own tokens (python -m ops.users) keep working for integrations
        assert (await http.get("/v1/me", headers=bearer("cc"))).status_code == 200


async def test_the_codec_decodes_for_signed_in_lead_ops_and_refuses_a_dealer_token_at_once(env, engine):
    ui = {"Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}
    async with api(env, engine) as (http, _):
        dealer = await http.post("/v1/auth/tokens", json={"name": "d", "role": "dealer_manager", "dealer_id": "D-SH-1"},
                                 headers=bearer("ops"))
        started = datetime.now(UTC)
        refused = await http.post("/codec/decode", json={"payloads": []},
                                  headers=ui | {"Authorization": f"Bearer {dealer.json()['token']}"})
        assert refused.status_code == 403 and datetime.now(UTC) - started < timedelta(seconds=2)
        await sign_in(http, "d-sh-1-mgr")
        assert (await http.post("/codec/decode", json={"payloads": []}, headers=ui)).status_code == 403
        http.cookies.clear()
        await sign_in(http, "ops")  # the Temporal UI sends the session cookie along: no token, no CSRF header
        decoded = await http.post("/codec/decode", json={"payloads": []}, headers=ui)
        assert decoded.status_code == 200 and decoded.headers["access-control-allow-credentials"] == "true"
        http.cookies.clear()
        assert (await http.post("/codec/decode", json={"payloads": []}, headers=ui)).status_code == 401


async def test_every_page_response_carries_a_strict_csp_and_the_other_security_headers(env, engine):
    async with api(env, engine) as (http, _):
        for path in ("/", "/web/app.js", "/v1/me", "/healthz", "/openapi.json", "/auth/oidc/login"):
            answer = await http.get(path)
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
            assert answer.headers["referrer-policy"] == "same-origin", path
            assert answer.headers["x-frame-options"] == "DENY" and "strict-transport-security" not in answer.headers
        docs = await http.get("/docs")
        policy = docs.headers["content-security-policy"]
        assert "'sha256-" in policy and "frame-ancestors 'none'" in policy
        assert "script-src 'self' https://cdn.jsdelivr.net 'sha256-" in docs.headers["content-security-policy"]
        page = (await http.get("/")).text
        assert "<script>" not in page and "localStorage" not in (await http.get("/web/api.js")).text


async def test_sign_in_sessions_limits_and_tokens_on_postgresql(env, pg_engine):
    """The same rows on PostgreSQL (production): column lengths, the conditional updates, JSON."""
    async with api(env, pg_engine) as (http, _):
        assert (await http.post("/v1/auth/login",
                                json={"login": "x" * 254, "password": "whatever-123"})).status_code == 401
        csrf = await sign_in(http, "d-sh-1-mgr")
        made = await http.post("/v1/auth/invites", json={"user_id": "pg-new", "name": "x", "role": "consultant"},
                               headers=csrf)
        assert made.status_code == 201, made.text
        token = await http.post("/v1/auth/tokens", json={"name": "pg", "role": "consultant"}, headers=csrf)
        assert token.status_code == 201
        assert (await http.get("/v1/me",
                               headers={"Authorization": f"Bearer {token.json()['token']}"})).status_code == 200
        assert (await http.post("/v1/auth/logout", headers=csrf)).status_code == 204
        accepted = await http.post("/v1/auth/accept",
                                   json={"ticket": ticket_of(made.json()["link"]), "password": "pg-password-1"})
        assert accepted.status_code == 200
        assert (await http.post("/v1/auth/accept", json={"ticket": ticket_of(made.json()["link"]),
                                                         "password": "pg-password-1"})).status_code == 404


def test_an_operator_sets_the_first_password_from_the_command_line(engine):
    from core.passwords import verify_password
    from db.models import UserLogin
    from ops.users import UserError, set_password

    with Session(engine) as session:
        set_password(session, "cc", "first-password-1")
        assert verify_password(session.get(UserLogin, "cc").password_hash, "first-password-1")
        for user_id, password in (("ghost", "first-password-1"), ("cc", "short")):
            try:
                set_password(session, user_id, password)
            except UserError:
                continue
            raise AssertionError(f"{user_id} {password} accepted")
