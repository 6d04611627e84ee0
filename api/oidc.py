"""The company account: OpenID Connect, authorization code flow with PKCE (Authlib's client), the ID token
checked with PyJWT against the issuer's JWKS (a key the cache does not know is fetched again: key rotation).

Configured by LEADFLOW_OIDC_ISSUER (discovery at <issuer>/.well-known/openid-configuration),
LEADFLOW_OIDC_CLIENT_ID and _CLIENT_SECRET, and the claims that map to a Leadflow user:
LEADFLOW_OIDC_USER_CLAIM `sub` (matched against user_login.oidc_subject) or `email` (user_login.email),
optionally LEADFLOW_OIDC_ROLE_CLAIM and LEADFLOW_OIDC_DEALER_CLAIM, used only to provision a user unknown so
far when LEADFLOW_OIDC_AUTO_PROVISION=true. Otherwise an unknown user gets a page saying so.
"""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import time
from datetime import datetime
from typing import Any

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, select

from api import auth
from core.logging import get_logger
from core.settings import get_settings
from db.models import Consultant, Dealer, User, UserLogin
from domain.messages import CodedError, negotiate, render
from domain.stages import DEALER_ROLES, Role

log = get_logger("api.oidc")
DISCOVERY_SECONDS = 3600
JWKS_COOLDOWN_SECONDS = 30.0  # an unknown kid refetches the JWKS at most this often (a flood of forged kids cannot)
LOGIN_MINUTES = 10  # an OIDC login in flight (its state) expires after
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, jwt.PyJWKClient] = {}


class Refused(CodedError):
    """The company sign-in could not finish: `oidc.<reason>` of the message catalog, answered as a page."""

    def __init__(self, status: int, reason: str, /, **params: object):
        super().__init__(f"oidc.{reason}", **params)
        self.status = status


def configured() -> bool:
    s = get_settings()
    return bool(s.oidc_issuer and s.oidc_client_id)


def _issuer() -> str:
    """The provider's issuer URL (its routes check `configured()` first)."""
    issuer = get_settings().oidc_issuer
    if issuer is None:
        raise Refused(404, "off")
    return issuer


async def discover(issuer: str) -> dict[str, Any]:
    cached = _discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        answer.raise_for_status()
        document = answer.json()
    if document.get("issuer") != issuer:
        raise Refused(502, "issuer", named=str(document.get("issuer")), issuer=issuer)
    _discovery[issuer] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return document


def _redirect_uri(request: Request) -> str:
    base = (get_settings().public_url or str(request.base_url)).rstrip("/")
    return f"{base}/auth/oidc/callback"


def _client(request: Request) -> AsyncOAuth2Client:
    s = get_settings()
    return AsyncOAuth2Client(client_id=s.oidc_client_id,
                             client_secret=s.oidc_client_secret.get_secret_value() if s.oidc_client_secret else None,
                             scope=s.oidc_scopes, redirect_uri=_redirect_uri(request), code_challenge_method="S256",
                             timeout=10)


async def start(request: Request, session: Session, now: datetime) -> str:
    """The provider's authorization URL for a new login; its state, PKCE verifier and nonce kept server-side."""
    document = await discover(_issuer())
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    state, _ = auth.new_ticket(session, "oidc", user_id=None, hours=LOGIN_MINUTES / 60, now=now,
                               data={"verifier": verifier, "nonce": nonce})
    session.commit()
    async with _client(request) as client:
        url, _ = client.create_authorization_url(document["authorization_endpoint"], state=state,
                                                 code_verifier=verifier, nonce=nonce)
    return url


def validate(id_token: str, document: dict[str, Any], nonce: str | None) -> dict[str, Any]:
    """The ID token's claims, checked: signature by the issuer's current keys, issuer, audience, expiry, nonce."""
    s = get_settings()
    uri = document["jwks_uri"]
    keys = _jwks.setdefault(uri, jwt.PyJWKClient(uri, cache_keys=True, lifespan=DISCOVERY_SECONDS, timeout=10,
                                                       cooldown_duration=JWKS_COOLDOWN_SECONDS))
    try:
        key = keys.get_signing_key_from_jwt(id_token)  # an unknown kid refetches the JWKS once (rotation)
        claims = jwt.decode(id_token, key.key,
                            algorithms=document.get("id_token_signing_alg_values_supported", ["RS256"]),
                            audience=s.oidc_client_id, issuer=s.oidc_issuer, leeway=30,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Refused(401, "expired") from None
    except jwt.InvalidAudienceError:
        raise Refused(401, "audience") from None
    except jwt.PyJWKClientError as err:
        raise Refused(401, "unknown_key", error=str(err)) from None
    except jwt.InvalidTokenError as err:
        raise Refused(401, "invalid_token", error=str(err)) from None
    if nonce is not None and claims.get("nonce") != nonce:
        raise Refused(401, "nonce")
    return claims


async def finish(request: Request, session: Session, now: datetime) -> User:
    query = request.query_params
    if "error" in query:
        raise Refused(401, "not_completed", error=str(query.get("error")))
    ticket = auth.use_ticket(session, query.get("state", ""), ("oidc",), now)
    session.commit()
    if ticket is None:
        raise Refused(400, "used")
    document = await discover(_issuer())
    try:
        async with _client(request) as client:
            token = await client.fetch_token(document["token_endpoint"], code=query.get("code", ""),
                                             code_verifier=ticket.data["verifier"], grant_type="authorization_code")
    except Exception as err:  # noqa: BLE001 - any failure of the exchange is the provider's refusal
        log.warning("oidc token exchange failed", error=type(err).__name__)
        raise Refused(502, "exchange", error=type(err).__name__) from None
    if "id_token" not in token:
        raise Refused(502, "no_id_token", scope="openid")
    claims = await asyncio.to_thread(validate, token["id_token"], document, ticket.data.get("nonce"))
    return _user_for(session, claims, now)


def _user_for(session: Session, claims: dict[str, Any], now: datetime) -> User:
    s = get_settings()
    value = claims.get(s.oidc_user_claim)
    if not isinstance(value, str) or not value:
        raise Refused(403, "no_claim", claim=s.oidc_user_claim)
    if s.oidc_user_claim == "email":
        if claims.get("email_verified") is False:
            raise Refused(403, "email_unverified")
        value = value.lower()
        row = session.exec(select(UserLogin).where(UserLogin.email == value)).first()
    else:
        row = session.exec(select(UserLogin).where(UserLogin.oidc_subject == value)).first()
    user = session.get(User, row.user_id) if row is not None else None
    if user is not None:
        if not user.active:
            raise Refused(403, "disabled")
        return user
    if not s.oidc_auto_provision:
        raise Refused(403, "no_user")
    return _provision(session, claims, value)


def _provision(session: Session, claims: dict[str, Any], value: str) -> User:
    s = get_settings()
    role_text = claims.get(s.oidc_role_claim) if s.oidc_role_claim else None
    try:
        role = Role(role_text) if isinstance(role_text, str) else None
    except ValueError:
        role = None
    if role is None or role == Role.SYSTEM:
        raise Refused(403, "no_role")
    dealer_id = claims.get(s.oidc_dealer_claim) if s.oidc_dealer_claim else None
    if role in DEALER_ROLES and (not isinstance(dealer_id, str) or session.get(Dealer, dealer_id) is None):
        raise Refused(403, "no_dealer")
    user_id = re.sub(r"[^A-Za-z0-9_.@-]", "-", value)[:64]
    if session.get(User, user_id) is not None:
        raise Refused(409, "user_exists", user=user_id)
    given_name = claims.get("name")
    name = given_name if isinstance(given_name, str) else user_id
    user = User(id=user_id, name=name[:100], role=role.value, dealer_id=dealer_id if role in DEALER_ROLES else None)
    session.add(user)
    session.flush()
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    session.add(UserLogin(user_id=user_id, oidc_subject=claims["sub"], email=email.lower() if email else None))
    if role == Role.CONSULTANT and isinstance(dealer_id, str):  # (a dealer role's dealer was checked above)
        session.add(Consultant(user_id=user_id, dealer_id=dealer_id))
    session.commit()
    session.refresh(user)
    log.info("oidc user provisioned", user_id=user_id, role=role.value)
    return user


PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title} · Leadflow</title>
<link rel="stylesheet" href="/web/style.css"></head><body><main class="signin"><h1>{title}</h1>
<p data-testid="oidc-refusal" data-code="{code}">{message}</p><p><a href="/">{back}</a></p></main></body></html>"""


def refusal(request: Request, refused: Refused) -> HTMLResponse:
    """The refusal as a page in the reader's language (Accept-Language, `?lang=`)."""
    lang = negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))
    return HTMLResponse(PAGE.format(lang=lang, title=render("oidc.title", {}, lang), code=refused.code,
                                    message=html.escape(render(refused.code, refused.params, lang)),
                                    back=render("oidc.back", {}, lang)), status_code=refused.status)
