"""One source id = one submission: claiming a channel's external id for one raw lead's content.

The engine already answers a repeat of a raw lead (same channel and external id) with its first answer,
but only within the customer's lead: the same id with another phone would reach another customer's lead
and create a second one. The `intake_key` table closes that gap before anything reaches the engine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from db.models import IntakeKey
from db.statements import insert, statement, table_of
from domain.messages import CodedError
from domain.models import RawLead

_KEYS = table_of(IntakeKey)


class ExternalIdReused(CodedError):
    """The channel's external id came before with other content. Says nothing of whose lead took it."""

    def __init__(self, channel: str):
        super().__init__("error.external_id_reused", channel=channel)


def fingerprint(raw: RawLead) -> str:
    """The content of a raw lead (its phone normalized by the caller), as one digest: no customer data in clear."""
    content = raw.model_dump(mode="json")
    if content.get("wechat_id") is None:  # added later (issue 13): without one, the digest is what it always was
        content.pop("wechat_id", None)
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def claim(session: Session, raw: RawLead) -> str:
    """Claim the raw lead's channel and external id for its content. "new": the id was free and is now this
    content's; "same": claimed before by the same content (the idempotent repeat); "reused": claimed by other
    content. Atomic: of two concurrent claims, the insert of one wins (one INSERT ... ON CONFLICT DO NOTHING, no
    ORM unit of work: issue 15, the API's cost per intake)."""
    digest = fingerprint(raw)
    channel = raw.channel.value
    conn = session.connection()
    new = statement(conn, ("intake-claim",),
                    lambda: insert(conn, _KEYS).on_conflict_do_nothing().returning(_KEYS.c.channel))
    claimed = conn.execute(new, dict(channel=channel, external_id=raw.external_id, fingerprint=digest,
                                     claimed_at=datetime.now(UTC))).first() is not None
    if claimed:
        session.commit()
        return "new"
    held = conn.execute(sa.select(_KEYS.c.fingerprint).where(
        _KEYS.c.channel == channel, _KEYS.c.external_id == raw.external_id)).scalar()
    session.commit()
    return "same" if held == digest else "reused"


def take(session: Session, raw: RawLead) -> bool:
    """`claim`, raising ExternalIdReused when the id belongs to other content; True when this call claimed it."""
    outcome = claim(session, raw)
    if outcome == "reused":
        raise ExternalIdReused(raw.channel.value)
    return outcome == "new"


def release(session: Session, raw: RawLead) -> None:
    """Give the id back: the engine refused the raw lead that claimed it (nothing was created), so a corrected
    submission may use it."""
    row = session.get(IntakeKey, (raw.channel.value, raw.external_id))
    if row is not None and row.fingerprint == fingerprint(raw):
        session.delete(row)
        session.commit()
