"""Push channels' configuration (issue 14 section 2): OEM lead ops configure the OEM's robots and SMS gateway, a
dealer manager their team's robots; both can send a test message (run by the worker). People set their own
preferences (channels, escalation, quiet hours, mobile) and their Web Push subscriptions.

Secrets (robot URLs with their keys, signing secrets, SMS credentials, subscriptions) are encrypted at rest
(channels/secrets.py) and never returned: a target shows its kind, name, roles and state only.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import col, select

from api.deps import ActorDep, ClientDep, SessionDep, TaskQueueDep
from api.errors import Invalid, Problem, responses
from channels.delivery import OWNERS
from channels.secrets import seal, unseal
from core.settings import get_settings
from db.models import PushDelivery, PushPreference, PushTarget
from domain.messages import CodedError
from domain.models import Actor
from domain.stages import DEALER_ROLES, OEM_ROLES, Role

router = APIRouter(prefix="/v1/push", tags=["push"], responses=responses(403))
OEM_MANAGERS = frozenset({Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS})
ROBOT_KINDS = ("wecom", "dingtalk", "feishu")
TargetId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
REQUIRED = {
    "wecom": ("webhook_url",),
    "dingtalk": ("webhook_url", "secret"),
    "feishu": ("webhook_url", "secret"),
    "sms": ("secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id"),
}


def channel_manager(actor: ActorDep) -> Actor:
    if actor.role not in OEM_MANAGERS and actor.role != Role.DEALER_MANAGER:
        raise Problem(403, "error.role_only", what="push", role=actor.role.value,
                      roles=sorted(r.value for r in OEM_MANAGERS | {Role.DEALER_MANAGER}))
    return actor


ManagerDep = Annotated[Actor, Depends(channel_manager)]


class TargetCreate(BaseModel):
    kind: Literal["wecom", "dingtalk", "feishu", "sms"]
    name: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(default=[], description="whose notices it carries; empty: every role of its scope")
    audience: Literal["staff", "owners"] = Field(
        default="staff", description="sms only: `owners` makes it the gateway owner care's messages reach owners by "
                                     "(their own approved template and signature); `staff`: people's alerts")
    config: dict[str, str] = Field(description="wecom: webhook_url; dingtalk, feishu: webhook_url, secret; sms "
                                               "(OEM only, Tencent Cloud): secret_id, secret_key, sdk_app_id, "
                                               "sign_name, template_id, region")

    @model_validator(mode="after")
    def _config(self) -> TargetCreate:
        missing = [k for k in REQUIRED[self.kind] if not self.config.get(k, "").strip()]
        if missing:
            raise CodedError("invalid.config_needs", missing=", ".join(missing), kind=self.kind)
        url = self.config.get("webhook_url")
        if url is not None:
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise CodedError("invalid.http_url")
        if any(len(v) > 2000 for v in self.config.values()):
            raise CodedError("invalid.config_too_long")
        if self.audience == "owners" and (self.kind != "sms" or self.roles):
            raise CodedError("invalid.owners_gateway", field="audience")
        return self


class TargetView(BaseModel):
    id: str
    kind: str
    name: str
    scope: str
    dealer_id: str | None
    roles: list[str]
    audience: str
    status: str
    failures: int
    created_by: str
    created_at: datetime
    broken_at: datetime | None


def _view(t: PushTarget) -> TargetView:
    return TargetView.model_validate({**t.model_dump(), "audience": "owners" if OWNERS in t.roles else "staff"})


def _mine(actor: Actor, t: PushTarget | None) -> PushTarget:
    """A target the caller configures; another scope's answers exactly like an unknown one."""
    ok = t is not None and t.scope != "user" and (
        (t.scope == "oem" and actor.role in OEM_MANAGERS)
        or (t.scope == "dealer" and actor.role == Role.DEALER_MANAGER and t.dealer_id == actor.dealer_id))
    if t is None or not ok:
        raise Problem(404, "error.not_found", thing="push_target", id="")
    return t


@router.get("/targets", response_model=list[TargetView])
def list_targets(actor: ManagerDep, session: SessionDep):
    """The push targets the caller configures (the OEM's for lead ops, the team's for a dealer manager)."""
    query = select(PushTarget).where(PushTarget.scope == "oem") if actor.role in OEM_MANAGERS else \
        select(PushTarget).where(PushTarget.scope == "dealer", PushTarget.dealer_id == actor.dealer_id)
    return [_view(t) for t in session.exec(query.order_by(col(PushTarget.created_at))).all()]


@router.post("/targets", response_model=TargetView, status_code=201)
def create_target(body: TargetCreate, actor: ManagerDep, session: SessionDep):
    """Add a group robot (or, for the OEM, the SMS gateway). Its secrets are stored encrypted, never shown."""
    oem = actor.role in OEM_MANAGERS
    if body.kind == "sms" and not oem:
        raise Problem(403, "error.sms_gateway_oem_only")
    allowed = {r.value for r in (OEM_ROLES if oem else DEALER_ROLES)}
    if bad := [r.value for r in body.roles if r.value not in allowed]:
        raise Invalid(("body", "roles"), "invalid.roles_of_scope", roles=bad)
    target = PushTarget(id=uuid.uuid4().hex[:16], kind=body.kind, name=body.name, scope="oem" if oem else "dealer",
                        dealer_id=None if oem else actor.dealer_id,
                        roles=[OWNERS] if body.audience == "owners" else [r.value for r in body.roles],
                        secret=seal({k: v.strip() for k, v in body.config.items()}), created_by=actor.user_id,
                        created_at=datetime.now(UTC))
    session.add(target)
    session.commit()
    session.refresh(target)
    return _view(target)


class Done(BaseModel):
    id: str
    done: bool


@router.delete("/targets/{target_id}", response_model=Done, responses=responses(404))
def delete_target(target_id: TargetId, actor: ManagerDep, session: SessionDep):
    """Remove a target (its ledger rows stay)."""
    session.delete(_mine(actor, session.get(PushTarget, target_id)))
    session.commit()
    return Done(id=target_id, done=True)


@router.post("/targets/{target_id}/enable", response_model=TargetView, responses=responses(404))
def enable_target(target_id: TargetId, actor: ManagerDep, session: SessionDep):
    """Put a broken target back in service (after fixing its robot), its failure count reset."""
    target = _mine(actor, session.get(PushTarget, target_id))
    target.status, target.failures, target.broken_at = "active", 0, None
    session.add(target)
    session.commit()
    session.refresh(target)
    return _view(target)


class TestResult(BaseModel):
    result: str


@router.post("/targets/{target_id}/test", response_model=TestResult, responses=responses(404, 503))
async def test_target(target_id: TargetId, actor: ManagerDep, session: SessionDep, client: ClientDep,
                      task_queue: TaskQueueDep):
    """Send the catalog's test message to this target now; the worker sends it (PushTestWorkflow)."""
    _mine(actor, session.get(PushTarget, target_id))
    try:
        result = await client.execute_workflow("PushTestWorkflow", target_id,
                                               id=f"push-test:{target_id}:{uuid.uuid4().hex}",
                                               task_queue=task_queue, execution_timeout=timedelta(seconds=30))
    except Exception as exc:  # noqa: BLE001 - the engine did not answer
        raise Problem(503, "error.push_test_failed", error=type(exc).__name__) from None
    return TestResult(result=result)


@router.get("/targets/{target_id}/deliveries", responses=responses(404))
def target_deliveries(target_id: TargetId, actor: ManagerDep, session: SessionDep, limit: int = 50):
    """The delivery ledger of one target, newest first: status, attempts, provider message id, the times."""
    _mine(actor, session.get(PushTarget, target_id))
    rows = session.exec(select(PushDelivery).where(PushDelivery.target_id == target_id)
                        .order_by(col(PushDelivery.id).desc()).limit(max(1, min(limit, 500)))).all()
    return [r.model_dump(include={"id", "kind", "status", "attempts", "provider_message_id", "error", "level",
                                  "queued_at", "sending_at", "sent_at", "failed_at"}) for r in rows]


# -- a person's preferences and subscriptions --------------------------------------------------------------


class Preferences(BaseModel):
    channels: list[Literal["wecom", "dingtalk", "feishu", "sms", "webpush"]] = Field(
        default=[], description="the channels notices reach you on at once; empty: Web Push (the team's robots "
                                "always carry the team's notices)")
    escalate_to: Literal["sms", "webpush"] | None = Field(default="sms", description="where an SLA alert you have "
                                                                                     "not read goes next")
    quiet_start: str | None = Field(default=None, pattern=HHMM, description="Asia/Shanghai, e.g. 22:00")
    quiet_end: str | None = Field(default=None, pattern=HHMM, description="e.g. 08:00; SLA alerts ignore quiet hours")
    mobile: str | None = Field(default=None, max_length=20, description="for @mentions and SMS; write only")

    @model_validator(mode="after")
    def _quiet_hours(self) -> Preferences:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise CodedError("invalid.quiet_hours_pair")
        return self

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+?\d{6,15}", value):
            raise CodedError("invalid.mobile_digits")
        return value


class PreferencesView(Preferences):
    mobile_set: str | None = None  # the last 4 digits of the mobile on file


def _pref_view(p: PushPreference | None) -> PreferencesView:
    if p is None:
        return PreferencesView()
    mobile = unseal(p.mobile) if p.mobile else None
    return PreferencesView(channels=p.channels, escalate_to=p.escalate_to, quiet_start=p.quiet_start,
                           quiet_end=p.quiet_end, mobile_set=f"…{mobile[-4:]}" if mobile else None)


@router.get("/preferences", response_model=PreferencesView)
def my_preferences(actor: ActorDep, session: SessionDep):
    return _pref_view(session.get(PushPreference, actor.user_id))


@router.put("/preferences", response_model=PreferencesView)
def set_preferences(body: Preferences, actor: ActorDep, session: SessionDep):
    pref = session.get(PushPreference, actor.user_id) or PushPreference(user_id=actor.user_id,
                                                                       updated_at=datetime.now(UTC))
    pref.channels, pref.escalate_to = list(dict.fromkeys(body.channels)), body.escalate_to
    pref.quiet_start, pref.quiet_end, pref.updated_at = body.quiet_start, body.quiet_end, datetime.now(UTC)
    if body.mobile is not None:
        pref.mobile = seal(body.mobile) if body.mobile else None
    session.add(pref)
    session.commit()
    session.refresh(pref)
    return _pref_view(pref)


class VapidKey(BaseModel):
    public_key: str


@router.get("/webpush-key", response_model=VapidKey, responses=responses(404))
def webpush_key():
    """The VAPID application server key the portal subscribes with; 404 while Web Push is not configured."""
    from channels.webpush import vapid_public_key

    key = get_settings().vapid_private_key
    if key is None:
        raise Problem(404, "error.web_push_off", setting="LEADFLOW_VAPID_PRIVATE_KEY")
    return VapidKey(public_key=vapid_public_key(key.get_secret_value()))


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(min_length=20, max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")


class Subscription(BaseModel):
    """A browser's PushSubscription.toJSON()."""

    endpoint: str = Field(max_length=2000)
    keys: SubscriptionKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise CodedError("invalid.https_url")
        return url


class Unsubscribe(BaseModel):
    endpoint: str = Field(max_length=2000)


def _subscription_id(user_id: str, endpoint: str) -> str:
    return "wp-" + hashlib.sha256(f"{user_id}\n{endpoint}".encode()).hexdigest()[:32]


@router.post("/subscriptions", status_code=201, response_model=TargetView)
def subscribe(body: Subscription, actor: ActorDep, session: SessionDep):
    """This browser receives your notices by Web Push (idempotent per endpoint)."""
    target_id = _subscription_id(actor.user_id, body.endpoint)
    target = session.get(PushTarget, target_id) or PushTarget(
        id=target_id, kind="webpush", name="Web Push", scope="user", user_id=actor.user_id, dealer_id=actor.dealer_id,
        secret="", created_by=actor.user_id, created_at=datetime.now(UTC))
    config: dict[str, Any] = {"endpoint": body.endpoint, "p256dh": body.keys.p256dh.rstrip("="),
                              "auth": body.keys.auth.rstrip("=")}
    target.secret, target.status, target.failures, target.broken_at = seal(config), "active", 0, None
    session.add(target)
    session.commit()
    session.refresh(target)
    return _view(target)


@router.post("/subscriptions/delete", response_model=Done)
def unsubscribe(body: Unsubscribe, actor: ActorDep, session: SessionDep):
    """This browser no longer receives Web Push (nothing happens for an unknown endpoint)."""
    target_id = _subscription_id(actor.user_id, body.endpoint)
    target = session.get(PushTarget, target_id)
    if target is not None:
        session.delete(target)
        session.commit()
    return Done(id=target_id, done=target is not None)
