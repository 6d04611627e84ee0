"""Sign-in: browser sessions (cookie + CSRF), single-use links (invite, reset), login limits, API tokens.

- A browser session is a random id in the HttpOnly cookie `leadflow_session` (SameSite=Lax, Secure over
  https); the `web_session` row keeps only its hash, and sign-out ends it there. Every write made with the
  cookie must carry the session's CSRF token in `X-CSRF-Token` (the page reads it from the `leadflow_csrf`
  cookie, which is no credential by itself).
- Bearer tokens stay for machines: a user's token (`python -m ops.users`) and API tokens (`api_token`:
  own role and dealer, revocable, last use recorded). A bearer request needs no CSRF token: no browser
  adds that header on its own.
- Login limits: failed sign-ins are counted per account and per address in a window; over the limit both
  are locked until the window's lock ends (429 with Retry-After), whatever the password.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import Request, Response
from sqlalchemy import update
from sqlmodel import Session, col

from api.errors import Problem
from core.security import hash_token
from core.settings import get_settings
from db.engine import aware
from db.models import ApiToken, AuthTicket, Dealer, LoginLimit, User, WebSession
from db.statements import table_of
from domain.models import Actor
from domain.stages import Role

SESSION_COOKIE = "leadflow_session"
CSRF_COOKIE = "leadflow_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_EXEMPT = ("/codec/",)  # Temporal's codec protocol: decode/encode change nothing, and the UI cannot add the header
LAST_USE_EVERY = timedelta(minutes=1)  # an API token's last use is written at most this often


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_of(session: Session, user: Any) -> Actor:
    """The actor of a user (a `User`, or a row with its id, name, role, dealer_id and region); a dealer's people
    without a region of their own take their dealer's."""
    region = user.region
    if user.dealer_id and region is None:
        dealer = session.get(Dealer, user.dealer_id)
        region = dealer.region if dealer else None
    return Actor(user_id=user.id, role=Role(user.role), dealer_id=user.dealer_id, region=region, name=user.name)


# ------------------------------------------------------------------ bearer tokens

_USERS, _TOKENS = table_of(User).c, table_of(ApiToken).c
# statements built once: a bearer request's look-up is plain rows, no ORM objects (issue 15, the API's cost per intake)
_USER_BY_TOKEN = sa.select(_USERS.id, _USERS.name, _USERS.role, _USERS.dealer_id, _USERS.region).where(
    _USERS.token_hash == sa.bindparam("digest"), _USERS.active)
_API_TOKEN_BY_HASH = sa.select(_TOKENS.id, _TOKENS.name, _TOKENS.role, _TOKENS.dealer_id, _TOKENS.region,
                               _TOKENS.last_used_at).where(_TOKENS.token_hash == sa.bindparam("digest"),
                                                           _TOKENS.revoked_at.is_(None))


def bearer_actor(session: Session, token: str, now: datetime | None = None) -> Actor | None:
    """A user's token, else a live API token; None when neither."""
    digest = hash_token(token)
    conn = session.connection()
    user = conn.execute(_USER_BY_TOKEN, {"digest": digest}).first()
    if user is not None:
        return actor_of(session, user)
    api = conn.execute(_API_TOKEN_BY_HASH, {"digest": digest}).first()
    if api is None:
        return None
    now = now or datetime.now(UTC)
    if api.last_used_at is None or aware(api.last_used_at) < now - LAST_USE_EVERY:
        session.exec(update(ApiToken).where(col(ApiToken.id) == api.id).values(last_used_at=now))
        session.commit()
    region = api.region
    if api.dealer_id and region is None:
        dealer = session.get(Dealer, api.dealer_id)
        region = dealer.region if dealer else None
    return Actor(user_id=f"api-token-{api.id}", role=Role(api.role), dealer_id=api.dealer_id, region=region,
                 name=api.name)


def new_api_token(session: Session, *, name: str, role: Role, dealer_id: str | None, region: str | None,
                  created_by: str, now: datetime) -> tuple[ApiToken, str]:
    token = "lf_api_" + secrets.token_urlsafe(24)
    row = ApiToken(token_hash=hash_token(token), name=name, role=role.value, dealer_id=dealer_id, region=region,
                   created_by=created_by, created_at=now)
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, token


# ------------------------------------------------------------------ browser sessions

def start_session(session: Session, request: Request, response: Response, user: User, via: str,
                  now: datetime | None = None) -> str:
    """A new server-side session for `user`; sets its cookies on `response`; returns the CSRF token. Sessions
    live by the wall clock, always (a test's skipped clock moves leads' deadlines, not people's sign-ins)."""
    now = datetime.now(UTC)
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    lifetime = timedelta(hours=get_settings().session_hours)
    session.add(WebSession(id_hash=_hash(sid), user_id=user.id, csrf_token=csrf, via=via, created_at=now,
                           expires_at=now + lifetime, last_seen_at=now))
    session.commit()
    secure = request.url.scheme == "https"
    seconds = int(lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, sid, max_age=seconds, path="/", httponly=True, samesite="lax", secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=seconds, path="/", httponly=False, samesite="lax", secure=secure)
    return csrf


def clear_cookies(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="lax", secure=secure)


def live_session(session: Session, sid: str, now: datetime) -> WebSession | None:
    row = session.get(WebSession, _hash(sid))
    if row is None or row.ended_at is not None or aware(row.expires_at) <= now:
        return None
    return row


def cookie_actor(session: Session, request: Request, now: datetime) -> tuple[Actor, WebSession] | None:
    """The session cookie's user, CSRF-checked for a write; None without a live session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    row = live_session(session, sid, now)
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if request.method not in SAFE_METHODS and not request.url.path.startswith(CSRF_EXEMPT):
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), row.csrf_token.encode()):
            raise Problem(403, "error.csrf", header=CSRF_HEADER, cookie=CSRF_COOKIE)
    return actor_of(session, user), row


def end_sessions(session: Session, user_id: str, now: datetime, *, keep: str | None = None) -> None:
    """End the user's live sessions (all but `keep`, a session's id hash)."""
    query = update(WebSession).where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))
    if keep is not None:
        query = query.where(col(WebSession.id_hash) != keep)
    session.exec(query.values(ended_at=now))


# ------------------------------------------------------------------ single-use tickets

def new_ticket(session: Session, kind: str, *, user_id: str | None, hours: float, now: datetime,
               created_by: str | None = None, data: dict | None = None) -> tuple[str, AuthTicket]:
    secret = secrets.token_urlsafe(32)
    row = AuthTicket(id_hash=_hash(secret), kind=kind, user_id=user_id, data=data or {}, created_by=created_by,
                     created_at=now, expires_at=now + timedelta(hours=hours))
    session.add(row)
    return secret, row


def use_ticket(session: Session, secret: str, kinds: tuple[str, ...], now: datetime) -> AuthTicket | None:
    """Claim a ticket once (a conditional update: two concurrent uses cannot both win); None if unknown, used
    or expired. The caller commits."""
    row = session.get(AuthTicket, _hash(secret))
    if row is None or row.kind not in kinds or row.used_at is not None or aware(row.expires_at) <= now:
        return None
    claimed = session.exec(update(AuthTicket).where(col(AuthTicket.id_hash) == row.id_hash,
                                                    col(AuthTicket.used_at).is_(None))
                           .values(used_at=now))
    if claimed.rowcount != 1:
        return None
    session.refresh(row)
    return row


# ------------------------------------------------------------------ login limits

def _limits() -> tuple[int, int, timedelta]:
    s = get_settings()
    return s.login_account_limit, s.login_address_limit, timedelta(minutes=s.login_lock_minutes)


def locked_for(session: Session, keys: list[str], now: datetime) -> int:
    """Seconds until every one of `keys` is unlocked (0: none is locked)."""
    wait = 0.0
    for key in keys:
        row = session.get(LoginLimit, key)
        if row is not None and row.locked_until is not None and aware(row.locked_until) > now:
            wait = max(wait, (aware(row.locked_until) - now).total_seconds())
    return math.ceil(wait)


def record_failure(session: Session, account_key: str, address_key: str, now: datetime) -> None:
    account_limit, address_limit, window = _limits()
    for key, limit in ((account_key, account_limit), (address_key, address_limit)):
        row = session.get(LoginLimit, key)
        if row is None:
            row = LoginLimit(key=key, failures=0, window_started_at=now)
        if aware(row.window_started_at) <= now - window:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + window
        session.add(row)
    session.commit()


def clear_failures(session: Session, account_key: str) -> None:
    row = session.get(LoginLimit, account_key)
    if row is not None:
        session.delete(row)
        session.commit()


def too_many(seconds: int) -> Problem:
    return Problem(429, "error.too_many_sign_ins", {"Retry-After": str(seconds)}, seconds=seconds)
