"""Signing Leadflow webhooks, and checking the signature on the receiving side.

Standard library only: a receiver may copy this file as it is. Every delivery carries

    X-Leadflow-Event-Id:  lead-aurora-…:12:lead.dispatched   (also the payload's "id")
    X-Leadflow-Timestamp: 1795430400                        (unix seconds, when this attempt was sent)
    X-Leadflow-Signature: t=1795430400,v1=<hex HMAC-SHA256(secret, "<t>.<event id>.<raw body>")>

A receiver checks the signature over the raw body (before parsing the JSON), rejects old
timestamps (replays), and then processes each event id at most once: a retry after a lost
answer sends the same event id again.

    from webhook_signature import InvalidSignature, verify_signature

    try:
        event_id = verify_signature(SECRET, request.headers, raw_body, tolerance_s=300)
    except InvalidSignature:
        return 400
    if already_seen(event_id):
        return 200          # a repeat: acknowledge, do nothing
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

EVENT_ID_HEADER = "X-Leadflow-Event-Id"
TIMESTAMP_HEADER = "X-Leadflow-Timestamp"
SIGNATURE_HEADER = "X-Leadflow-Signature"


class InvalidSignature(ValueError):
    """The request was not signed by Leadflow with this secret, was altered, or is too old."""


def signature(secret: str, timestamp: int, event_id: str, body: bytes) -> str:
    signed = f"{timestamp}.{event_id}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers of one delivery attempt (the sender's side)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: f"t={ts},v1={signature(secret, ts, event_id, body)}",
    }


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: float = 300,
                     now: float | None = None) -> str:
    """Return the verified event id, or raise `InvalidSignature`.

    `headers` may be any mapping (names are matched case-insensitively); `body` is the raw request
    body, byte for byte. `tolerance_s` bounds how old (or how far ahead) the timestamp may be."""
    lower = {k.lower(): v for k, v in headers.items()}
    event_id = lower.get(EVENT_ID_HEADER.lower())
    header = lower.get(SIGNATURE_HEADER.lower())
    if not event_id or not header:
        raise InvalidSignature(f"missing {EVENT_ID_HEADER} or {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise InvalidSignature("the signature header has no valid timestamp (t=)") from None
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        raise InvalidSignature("the signature timestamp is outside the tolerance (a replayed request?)")
    expected = signature(secret, ts, event_id, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise InvalidSignature("the signature does not match (wrong secret, or the body or event id was altered)")
    return event_id
