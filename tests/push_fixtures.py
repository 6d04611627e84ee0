"""Helpers of the push tests: channel keys, targets, preferences, notices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet, MultiFernet
from sqlmodel import Session

import channels.secrets
from channels.secrets import seal
from db.models import PushPreference, PushTarget
from domain.models import NotifyRequest
from domain.stages import Role

DEALER = "D-SH-1"
CONSULTANT = "d-sh-1-c1"


@pytest.fixture(autouse=True)
def channel_keys(monkeypatch):
    monkeypatch.setattr(channels.secrets, "_fernet", MultiFernet([Fernet(Fernet.generate_key())]))


def add_target(engine, target_id: str, kind: str, config: dict, *, scope="dealer", dealer_id=DEALER, user_id=None,
               roles=()) -> None:
    with Session(engine) as session:
        session.add(PushTarget(id=target_id, kind=kind, name=target_id, scope=scope, dealer_id=dealer_id,
                               user_id=user_id, roles=list(roles), secret=seal(config), created_by="test",
                               created_at=datetime.now(UTC)))
        session.commit()


def add_preference(engine, user_id: str, **kw) -> None:
    if "mobile" in kw and kw["mobile"]:
        kw["mobile"] = seal(kw["mobile"])
    with Session(engine) as session:
        session.merge(PushPreference(user_id=user_id, updated_at=datetime.now(UTC), **kw))
        session.commit()


def notice(seq: int, at: datetime, kind: str = "first_response", lead: str = "L-push-1") -> NotifyRequest:
    return NotifyRequest(lead_id=lead, event_seq=seq, kind=kind, message="首次响应 first response: deadline passed",
                         roles=[Role.CONSULTANT], dealer_id=DEALER, consultant_id=CONSULTANT, region="East", at=at)
