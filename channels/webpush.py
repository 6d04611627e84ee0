"""Web Push to the installed PWA: VAPID (RFC 8292) with py-vapid, payload encrypted aes128gcm (RFC 8291) with
http_ece; POSTed to the subscription's endpoint (the browser's push service). 404/410: the subscription is
gone (unsubscribed or expired); the target is marked broken.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from channels.base import Channel, Outgoing, Sent, post, register


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_vapid_key() -> str:
    """A VAPID private key (P-256) as base64url of its raw 32 bytes: LEADFLOW_VAPID_PRIVATE_KEY."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64u(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_public_key(private_key: str) -> str:
    """The application server key browsers need to subscribe (uncompressed point, base64url)."""
    vapid = Vapid02.from_raw(private_key.encode())
    return b64u(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint))


def encrypt(payload: bytes, p256dh: str, auth: str) -> bytes:
    server_key = ec.generate_private_key(ec.SECP256R1())
    return http_ece.encrypt(payload, private_key=server_key, dh=b64u_decode(p256dh), auth_secret=b64u_decode(auth),
                            version="aes128gcm")


@register
class WebPush(Channel):
    kind = "webpush"
    per_person = True
    max_bytes = 3000  # push services take 4 KB of encrypted payload

    def send(self, http, config, msg: Outgoing, *, now_ms: int) -> Sent:
        endpoint = config["endpoint"]
        parts = urlsplit(endpoint)
        vapid = Vapid02.from_raw(config["vapid_private_key"].encode())
        claims = {"aud": f"{parts.scheme}://{parts.netloc}",
                  "sub": config.get("vapid_subject", "mailto:ops@leadflow.invalid"),
                  "exp": now_ms // 1000 + 12 * 3600}
        headers = vapid.sign(claims)
        payload = json.dumps({"title": msg.title, "body": msg.text[: self.max_bytes], "key": msg.key,
                              "url": config.get("url", "/")}, ensure_ascii=False).encode()
        body = encrypt(payload, config["p256dh"], config["auth"])
        headers.update({"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
                        "TTL": "86400", "Urgency": "high" if msg.urgent else "normal",
                        "Topic": b64u(hashlib.sha256(msg.key.encode()).digest())[:32] if msg.key else None})
        headers = {k: v for k, v in headers.items() if v}
        response = post(http, endpoint, content=body, headers=headers)
        return Sent(response.headers.get("location"))
