"""The company account (OpenID Connect, api/oidc.py) against a real provider built from Authlib's server
components (tests/oidc_provider.py) on loopback: discovery, the code flow with PKCE, a wrong audience, an
expired ID token, a rotated signing key, an unknown user refused, and auto-provisioning."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import Session

from api import auth, oidc
from core.settings import get_settings
from db.models import User, UserLogin
from tests.oidc_provider import Provider
from tests.test_signin import api


@pytest.fixture
def provider(monkeypatch):
    with Provider() as p:
        monkeypatch.setenv("LEADFLOW_OIDC_ISSUER", p.issuer)
        monkeypatch.setenv("LEADFLOW_OIDC_CLIENT_ID", p.client.client_id)
        monkeypatch.setenv("LEADFLOW_OIDC_CLIENT_SECRET", p.client.client_secret)
        get_settings.cache_clear()
        oidc._discovery.clear()
        oidc._jwks.clear()
        yield p
    get_settings.cache_clear()
    oidc._discovery.clear()
    oidc._jwks.clear()


def link(engine, user_id: str, subject: str) -> None:
    with Session(engine) as session:
        row = session.get(UserLogin, user_id) or UserLogin(user_id=user_id)
        row.oidc_subject = subject
        session.add(row)
        session.commit()


async def company_sign_in(http: httpx.AsyncClient) -> httpx.Response:
    """The browser's round trip: Leadflow -> the provider's authorize endpoint -> back to the callback."""
    start = await http.get("/auth/oidc/login")
    assert start.status_code == 302, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
    assert query["redirect_uri"] == ["http://leadflow/auth/oidc/callback"]
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    return await http.get(f"{back.path}?{back.query}")


async def test_a_linked_user_signs_in_with_the_company_account_code_flow_and_pkce(env, engine, provider):
    link(engine, "d-sh-1-c1", "emp-1001")
    provider.user = {"sub": "emp-1001", "name": "李雷", "email": "lilei@corp.example"}
    async with api(env, engine) as (http, _):
        assert (await http.get("/v1/auth/config")).json() == {"password": True, "oidc": True}
        done = await company_sign_in(http)
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert auth.SESSION_COOKIE in http.cookies
        me = await http.get("/v1/me")
        assert me.status_code == 200 and me.json()["user_id"] == "d-sh-1-c1"
        assert provider.hits["discovery"] >= 1 and provider.hits["token"] == 1

        # the same callback again (a replayed state) is refused
        again = await http.get("/auth/oidc/callback?state=used&code=x")
        assert again.status_code == 400 and 'data-code="oidc.used"' in again.text


async def test_an_id_token_for_another_audience_or_expired_is_refused_with_a_clear_page(env, engine, provider):
    link(engine, "d-sh-1-c1", "emp-1001")
    provider.user = {"sub": "emp-1001"}
    async with api(env, engine) as (http, _):
        provider.audience = "another-app"
        wrong = await company_sign_in(http)
        assert wrong.status_code == 401 and 'data-code="oidc.audience"' in wrong.text
        assert "text/html" in wrong.headers["content-type"] and auth.SESSION_COOKIE not in http.cookies
        provider.audience = None
        provider.expires_in = -300
        expired = await company_sign_in(http)
        assert expired.status_code == 401 and 'data-code="oidc.expired"' in expired.text
        assert auth.SESSION_COOKIE not in http.cookies
        provider.expires_in = 300
        assert (await company_sign_in(http)).status_code == 303


async def test_a_rotated_signing_key_is_fetched_again_from_the_jwks(env, engine, provider, monkeypatch):
    monkeypatch.setattr(oidc, "JWKS_COOLDOWN_SECONDS", 0.0)  # production waits 30 s between refetches; no sleeping here
    link(engine, "ops", "emp-ops")
    provider.user = {"sub": "emp-ops"}
    async with api(env, engine) as (http, _):
        assert (await company_sign_in(http)).status_code == 303
        assert provider.hits["jwks"] == 1
        assert (await company_sign_in(http)).status_code == 303
        assert provider.hits["jwks"] == 1  # the keys are cached ...
        provider.rotate()
        http.cookies.clear()
        assert (await company_sign_in(http)).status_code == 303  # ... and a new kid fetches them again
        assert provider.hits["jwks"] == 2
        assert (await http.get("/v1/me")).json()["user_id"] == "ops"


async def test_an_unknown_user_is_refused_unless_auto_provisioning_is_configured(env, engine, provider, monkeypatch):
    provider.user = {"sub": "emp-2002", "name": "韩梅梅", "email": "hmm@corp.example", "leadflow_role": "consultant",
                     "dealer": "D-SH-2"}
    async with api(env, engine) as (http, _):
        refused = await company_sign_in(http)
        assert refused.status_code == 403 and 'data-code="oidc.no_user"' in refused.text and "邀请" in refused.text

        monkeypatch.setenv("LEADFLOW_OIDC_AUTO_PROVISION", "true")
        monkeypatch.setenv("LEADFLOW_OIDC_ROLE_CLAIM", "leadflow_role")
        monkeypatch.setenv("LEADFLOW_OIDC_DEALER_CLAIM", "dealer")
        get_settings.cache_clear()
        made = await company_sign_in(http)
        assert made.status_code == 303
        me = (await http.get("/v1/me")).json()
        assert me["user_id"] == "emp-2002" and me["role"] == "consultant" and me["dealer_id"] == "D-SH-2"
        with Session(engine) as session:
            assert session.get(User, "emp-2002").name == "韩梅梅"

        http.cookies.clear()
        provider.user = {"sub": "emp-3003", "leadflow_role": "system"}
        no_role = await company_sign_in(http)
        assert no_role.status_code == 403 and 'data-code="oidc.no_role"' in no_role.text


async def test_users_are_matched_by_email_when_so_configured(env, engine, provider, monkeypatch):
    monkeypatch.setenv("LEADFLOW_OIDC_USER_CLAIM", "email")
    get_settings.cache_clear()
    provider.user = {"sub": "whatever", "email": "D-SH-1-MGR@example.com", "email_verified": True}
    async with api(env, engine) as (http, _):
        assert (await company_sign_in(http)).status_code == 303
        assert (await http.get("/v1/me")).json()["user_id"] == "d-sh-1-mgr"
        http.cookies.clear()
        provider.user = {"sub": "whatever", "email": "d-sh-1-mgr@example.com", "email_verified": False}
        assert (await company_sign_in(http)).status_code == 403
