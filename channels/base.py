"""What every channel shares: the message going out, the answer, the error that says whether to retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

# httpx logs every request's URL at INFO, and robot URLs hold their keys: never let it
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

TIMEOUT = httpx.Timeout(5.0, connect=3.0)


@dataclass
class Outgoing:
    """One request's worth: a title and a markdown/plain text already rendered, people to @mention by
    mobile, an idempotency key (the ledger's), and whether it is urgent (an SLA alert)."""

    title: str
    text: str
    mentions: list[str] = field(default_factory=list)
    key: str = ""
    urgent: bool = False


@dataclass
class Sent:
    provider_message_id: str | None = None


class DeliveryError(Exception):
    """A failed send. `retryable`: 5xx, 429, timeouts and the providers' throttling codes; any other 4xx or
    error code is not. `retry_after`: seconds the provider asks us to wait (DingTalk 130101: 10 minutes)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, gone: bool = False):
        super().__init__(message)
        self.retryable, self.retry_after, self.gone = retryable, retry_after, gone


class Channel:
    kind: ClassVar[str]
    limits: ClassVar[tuple[tuple[int, float], ...]] = ()  # (requests, per seconds) per target
    max_bytes: ClassVar[int] = 4096  # the text's budget in UTF-8 bytes
    idempotent: ClassVar[bool] = False  # the provider dedupes on our key: a retry after a crash is safe
    per_person: ClassVar[bool] = False  # sends to one person (SMS, Web Push), not to a group robot

    def send(self, http: httpx.Client, config: dict[str, Any], msg: Outgoing, *, now_ms: int) -> Sent:
        raise NotImplementedError


def post(http: httpx.Client, url: str, **kw) -> httpx.Response:
    """POST, turning transport failures and HTTP statuses into DeliveryError (the URL is never in the text)."""
    try:
        response = http.post(url, timeout=TIMEOUT, **kw)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timeout ({type(exc).__name__})", retryable=True) from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"transport error ({type(exc).__name__})", retryable=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        after = response.headers.get("retry-after")
        raise DeliveryError(f"HTTP {response.status_code}", retryable=True,
                            retry_after=float(after) if after and after.isdigit() else None)
    if response.status_code in (404, 410):
        raise DeliveryError(f"HTTP {response.status_code}", retryable=False, gone=True)
    if response.status_code >= 400:
        raise DeliveryError(f"HTTP {response.status_code}", retryable=False)
    return response


def fit(text: str, max_bytes: int) -> str:
    """`text` cut to `max_bytes` UTF-8 bytes on a character boundary, with an ellipsis when cut."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode(errors="ignore") + "…"


CHANNELS: dict[str, Channel] = {}


def register(cls):
    CHANNELS[cls.kind] = cls()
    return cls


def channel(kind: str) -> Channel:
    import channels.dingtalk  # noqa: F401 - registers
    import channels.feishu  # noqa: F401
    import channels.sms  # noqa: F401
    import channels.webpush  # noqa: F401
    import channels.wecom  # noqa: F401

    return CHANNELS[kind]
