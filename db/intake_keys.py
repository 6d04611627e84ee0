"""One source id = one submission: claiming a channel's external id for one raw lead's content.

The engine already answers a repeat of a raw lead (same channel and external id) with its first answer,
but only within the customer's lead: the same id with another phone would reach another customer's lead
and create a second one. The `intake_key` table closes that gap before anything reaches the engine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from db.models import IntakeKey
from domain.models import RawLead


class ExternalIdReused(Exception):
    """The channel's external id came before with other content. Says nothing of whose lead took it."""

    def __init__(self, channel: str):
        super().__init__(f"external_id was already used on channel {channel} for a different submission; "
                         "a new submission needs a new external_id")


def fingerprint(raw: RawLead) -> str:
    """The content of a raw lead (its phone normalized by the caller), as one digest: no customer data in clear."""
    content = raw.model_dump(mode="json")
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def claim(session: Session, raw: RawLead) -> bool:
    """True when this raw lead may go on: the id was free (now claimed) or claimed by the same content
    (the idempotent repeat). False when the id was claimed by other content. Atomic: the insert wins or not."""
    digest = fingerprint(raw)
    channel = raw.channel.value
    session.add(IntakeKey(channel=channel, external_id=raw.external_id, fingerprint=digest,
                          claimed_at=datetime.now(UTC)))
    try:
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
    row = session.get(IntakeKey, (channel, raw.external_id))
    return row is not None and row.fingerprint == digest


def take(session: Session, raw: RawLead) -> None:
    """`claim`, raising ExternalIdReused when the id belongs to other content."""
    if not claim(session, raw):
        raise ExternalIdReused(raw.channel.value)
