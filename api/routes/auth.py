"""Sign-in for people and tokens for machines (docs/api.md "Signing in").

- `POST /v1/auth/login` {login, password}: a user id or email and the password; sets the session cookie.
  Failed attempts are limited per account and per address (429 with Retry-After; unlocked on a timer).
- `POST /v1/auth/logout`: ends the session on the server.
- `POST /v1/auth/password`: change your own password (your other sessions end).
- `POST /v1/auth/invites`: a dealer manager invites a consultant of their dealer, lead ops invite anyone;
  `POST /v1/auth/resets`: a manager (their dealer's people) or lead ops (anyone) resets a password. Both
  answer a single-use link that expires; `POST /v1/auth/accept` {ticket, password} sets the password there
  and signs in.
- `GET|POST /v1/auth/tokens`, `DELETE /v1/auth/tokens/{id}`: API tokens for machines, scoped by role and
  dealer, shown once, listed with their last use, revocable.
- `GET /auth/oidc/login`, `GET /auth/oidc/callback`: the company account (OpenID Connect, api/oidc.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api import auth, oidc
from api.access import LEAD_OPS, require
from api.deps import ActorDep, NowDep, SessionDep, _wall
from api.errors import Invalid, Problem, responses
from core.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, needs_rehash, verify_password
from core.settings import get_settings
from db.models import ApiToken, Consultant, Dealer, User, UserLogin
from domain.models import Actor
from domain.stages import DEALER_ROLES, Role

router = APIRouter(prefix="/v1/auth", tags=["sign-in"], responses=responses(403, 404, 409))
oidc_router = APIRouter(prefix="/auth/oidc", include_in_schema=False)

Password = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
MANAGERS = frozenset({Role.DEALER_MANAGER})


class Login(BaseModel):
    login: str = Field(min_length=1, max_length=254, description="user id or email")
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class Signed(BaseModel):
    user_id: str
    role: str
    csrf_token: str = Field(description="send it in X-CSRF-Token with every write made with the session cookie")


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: Password


class Invite(BaseModel):
    user_id: UserId
    name: str = Field(min_length=1, max_length=100)
    role: Role
    dealer_id: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class Reset(BaseModel):
    user_id: UserId


class Link(BaseModel):
    user_id: str
    kind: str
    link: str = Field(description="shown once: give it to the person; it sets a password once, until expires_at")
    expires_at: datetime


class Accept(BaseModel):
    ticket: str = Field(min_length=1, max_length=128)
    password: Password


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    dealer_id: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)


class TokenView(BaseModel):
    id: int
    name: str
    role: str
    dealer_id: str | None
    region: str | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenView):
    token: str = Field(description="shown once: only its hash is kept")


class AuthConfig(BaseModel):
    password: bool = True
    oidc: bool


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_row(session: Session, login: str) -> tuple[User | None, UserLogin | None]:
    user = session.get(User, login)
    row = session.get(UserLogin, user.id) if user is not None else None
    if user is None:
        row = session.exec(select(UserLogin).where(UserLogin.email == login.lower())).first()
        user = session.get(User, row.user_id) if row is not None else None
    return user, row


@router.get("/config", response_model=AuthConfig)
def config() -> AuthConfig:
    """How people may sign in here (the sign-in page shows the company-account button when `oidc`)."""
    return AuthConfig(oidc=oidc.configured())


@router.post("/login", response_model=Signed, responses=responses(401, 429))
def login(body: Login, request: Request, response: Response, session: SessionDep, now: NowDep) -> Signed:
    """Sign in with a password: sets the session cookie (HttpOnly) and the CSRF cookie."""
    now = _wall(now)
    user, row = _login_row(session, body.login)
    account = f"account:{(user.id if user else body.login).lower()[:180]}"  # login_limit.key is 200 at most
    address = f"address:{_address(request)[:180]}"
    if wait := auth.locked_for(session, [account, address], now):
        raise auth.too_many(wait)
    ok = verify_password(row.password_hash if row else None, body.password)
    if not ok or user is None or not user.active:
        auth.record_failure(session, account, address, now)
        if wait := auth.locked_for(session, [account, address], now):
            raise auth.too_many(wait)
        raise Problem(401, "error.wrong_password")
    auth.clear_failures(session, account)
    if row is not None and row.password_hash is not None and needs_rehash(row.password_hash):  # (ok: both are)
        row.password_hash = hash_password(body.password)
        session.add(row)
    csrf = auth.start_session(session, request, response, user, "password", now)
    return Signed(user_id=user.id, role=user.role, csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(request: Request, session: SessionDep, now: NowDep) -> Response:
    """Sign out: the session ends on the server, and its cookies are cleared."""
    now = datetime.now(UTC)  # sessions live by the wall clock
    sid = request.cookies.get(auth.SESSION_COOKIE)
    row = auth.live_session(session, sid, now) if sid else None
    if row is not None:
        auth.cookie_actor(session, request, now)  # the CSRF check: another site cannot sign you out
        row.ended_at = now
        session.add(row)
        session.commit()
    response = Response(status_code=204)
    auth.clear_cookies(request, response)
    return response


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, request: Request, actor: ActorDep, session: SessionDep,
                    now: NowDep) -> Response:
    """Change your own password (your other sessions end)."""
    now = _wall(now)
    row = session.get(UserLogin, actor.user_id)
    if session.get(User, actor.user_id) is None:
        raise Problem(409, "error.token_has_no_password")
    ok = verify_password(row.password_hash if row else None, body.current_password)  # as slow without a row
    if row is None or not ok:
        raise Problem(403, "error.current_password_wrong")
    row.password_hash, row.password_changed_at = hash_password(body.new_password), now
    session.add(row)
    sid = request.cookies.get(auth.SESSION_COOKIE)
    auth.end_sessions(session, actor.user_id, now, keep=auth._hash(sid) if sid else None)
    session.commit()
    return Response(status_code=204)


def _may_manage(session: Session, actor: Actor, role: Role, dealer_id: str | None, what: str) -> None:
    """Lead ops: anyone; a dealer manager: their own dealer's consultants. Else 403 (another dealer: 404)."""
    if actor.role in LEAD_OPS:
        return
    require(actor, LEAD_OPS | MANAGERS, what)
    if dealer_id != actor.dealer_id:
        raise (Problem(404, "error.not_found", thing="dealer", id=dealer_id) if dealer_id
               else Problem(404, "error.manager_names_dealer"))
    if role != Role.CONSULTANT:
        raise Problem(403, "error.manager_consultants_only", role=role.value)


def _link(request: Request, secret: str) -> str:
    base = (get_settings().public_url or str(request.base_url)).rstrip("/")
    return f"{base}/#/set-password/{secret}"


@router.post("/invites", response_model=Link, status_code=201)
def invite(body: Invite, request: Request, actor: ActorDep, session: SessionDep, now: NowDep) -> Link:
    """Invite a person: creates the user and answers a single-use link to set their password."""
    now = _wall(now)
    own = actor.dealer_id if actor.role in MANAGERS else None
    dealer_id = (body.dealer_id or own) if body.role in DEALER_ROLES else None
    if body.role == Role.SYSTEM:
        raise Invalid(("body", "role"), "invalid.role_system")
    _may_manage(session, actor, body.role, dealer_id, "invites")
    if body.role in DEALER_ROLES and (dealer_id is None or session.get(Dealer, dealer_id) is None):
        raise Invalid(("body", "dealer_id"), "invalid.needs_dealer", role=body.role.value)
    if session.get(User, body.user_id) is not None:
        raise Problem(409, "error.user_exists", user=body.user_id)
    session.add(User(id=body.user_id, name=body.name, role=body.role.value, dealer_id=dealer_id, region=body.region))
    session.flush()
    session.add(UserLogin(user_id=body.user_id, email=body.email.lower() if body.email else None))
    if body.role == Role.CONSULTANT and dealer_id is not None:  # (a dealer role: checked above)
        session.add(Consultant(user_id=body.user_id, dealer_id=dealer_id))
    secret, ticket = auth.new_ticket(session, "invite", user_id=body.user_id, hours=get_settings().invite_hours,
                                     now=now, created_by=actor.user_id)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "error.user_or_email_taken") from None
    return Link(user_id=body.user_id, kind="invite", link=_link(request, secret), expires_at=ticket.expires_at)


@router.post("/resets", response_model=Link, status_code=201)
def reset(body: Reset, request: Request, actor: ActorDep, session: SessionDep, now: NowDep) -> Link:
    """Reset a person's password: answers a single-use link to set a new one (the old one keeps working until)."""
    now = _wall(now)
    user = session.get(User, body.user_id)
    if user is None or (actor.role not in LEAD_OPS and user.dealer_id != actor.dealer_id):
        require(actor, LEAD_OPS | MANAGERS, "reset_passwords")
        raise Problem(404, "error.not_found", thing="user", id=body.user_id)
    _may_manage(session, actor, Role(user.role), user.dealer_id, "reset_passwords")
    secret, ticket = auth.new_ticket(session, "reset", user_id=user.id, hours=get_settings().reset_hours, now=now,
                                     created_by=actor.user_id)
    session.commit()
    return Link(user_id=user.id, kind="reset", link=_link(request, secret), expires_at=ticket.expires_at)


@router.post("/accept", response_model=Signed)
def accept(body: Accept, request: Request, response: Response, session: SessionDep, now: NowDep) -> Signed:
    """Set the password of an invite or reset link (once, before it expires), and sign in."""
    now = _wall(now)
    ticket = auth.use_ticket(session, body.ticket, ("invite", "reset"), now)
    user = session.get(User, ticket.user_id) if ticket is not None else None
    if ticket is None or user is None or not user.active:
        session.rollback()
        raise Problem(404, "error.link_expired")
    row = session.get(UserLogin, user.id) or UserLogin(user_id=user.id)
    row.password_hash, row.password_changed_at = hash_password(body.password), now
    session.add(row)
    auth.end_sessions(session, user.id, now)
    session.commit()
    csrf = auth.start_session(session, request, response, user, ticket.kind, now)
    return Signed(user_id=user.id, role=user.role, csrf_token=csrf)


# ------------------------------------------------------------------ API tokens

def _token_scope(session: Session, actor: Actor, body: TokenRequest) -> str | None:
    if body.role == Role.SYSTEM and actor.role != Role.HEAD_OF_LEAD_OPS:
        raise Problem(403, "error.system_token_head_only")
    dealer_id = body.dealer_id if body.role in DEALER_ROLES else None
    if actor.role in LEAD_OPS:
        if body.role in DEALER_ROLES and (dealer_id is None or session.get(Dealer, dealer_id) is None):
            raise Invalid(("body", "dealer_id"), "invalid.needs_dealer", role=body.role.value)
        return dealer_id
    require(actor, LEAD_OPS | MANAGERS, "issue_tokens")
    if body.role not in DEALER_ROLES:
        raise Problem(403, "error.manager_tokens_own_roles", role=body.role.value)
    if dealer_id not in (None, actor.dealer_id):
        raise Problem(404, "error.not_found", thing="dealer", id=dealer_id)
    return actor.dealer_id


def _token_view(row: ApiToken) -> TokenView:
    return TokenView.model_validate(row, from_attributes=True)


@router.post("/tokens", response_model=NewToken, status_code=201)
def issue_token(body: TokenRequest, actor: ActorDep, session: SessionDep, now: NowDep) -> NewToken:
    """An API token for a machine, with its own role and dealer. The token is in this answer only."""
    dealer_id = _token_scope(session, actor, body)
    row, token = auth.new_api_token(session, name=body.name, role=body.role, dealer_id=dealer_id, region=body.region,
                                    created_by=actor.user_id, now=_wall(now))
    return NewToken(**_token_view(row).model_dump(), token=token)


def _tokens_of(actor: Actor):
    require(actor, LEAD_OPS | MANAGERS, "tokens")
    query = select(ApiToken)
    return query if actor.role in LEAD_OPS else query.where(ApiToken.dealer_id == actor.dealer_id)


@router.get("/tokens", response_model=list[TokenView])
def list_tokens(actor: ActorDep, session: SessionDep) -> list[TokenView]:
    """The API tokens you may manage (lead ops: all; a dealer manager: their dealer's), with their last use."""
    return [_token_view(r) for r in session.exec(_tokens_of(actor).order_by(ApiToken.id)).all()]


@router.delete("/tokens/{token_id}", response_model=TokenView)
def revoke_token(token_id: int, actor: ActorDep, session: SessionDep, now: NowDep) -> TokenView:
    """Revoke an API token: it is refused (401) from now on."""
    row = session.exec(_tokens_of(actor).where(ApiToken.id == token_id)).first()
    if row is None:
        raise Problem(404, "error.not_found", thing="token", id=token_id)
    if row.revoked_at is None:
        row.revoked_at = _wall(now)
        session.add(row)
        session.commit()
        session.refresh(row)
    return _token_view(row)


# ------------------------------------------------------------------ company account (OpenID Connect)

@oidc_router.get("/login")
async def oidc_login(request: Request, session: SessionDep, now: NowDep) -> Response:
    """Off to the company's sign-in (authorization code with PKCE)."""
    if not oidc.configured():
        return oidc.refusal(request, oidc.Refused(404, "off"))
    url = await oidc.start(request, session, _wall(now))
    return RedirectResponse(url, status_code=302)


@oidc_router.get("/callback")
async def oidc_callback(request: Request, session: SessionDep, now: NowDep) -> Response:
    """Back from the company's sign-in: the ID token checked, the user found (or provisioned), signed in."""
    now = _wall(now)
    try:
        user = await oidc.finish(request, session, now)
    except oidc.Refused as refused:
        return oidc.refusal(request, refused)
    response: HTMLResponse | RedirectResponse = RedirectResponse("/", status_code=303)
    auth.start_session(session, request, response, user, "oidc", now)
    return response
