"""Feishu/Lark custom bot with signature verification.

https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: `sign = base64(HMAC-SHA256(key=timestamp
+ "\\n" + secret, msg=""))`, with `timestamp` (seconds) and `sign` in the JSON body; 100 requests a minute and
5 a second per bot; the body at most 20 KB. Code 11232: frequency limited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from channels.base import Channel, DeliveryError, Outgoing, Sent, fit, post, register

THROTTLED = {11232, 9499}
MAX_BODY = 20 * 1024


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@register
class Feishu(Channel):
    kind = "feishu"
    limits = ((100, 60.0), (5, 1.0))
    max_bytes = 18 * 1024  # leaves room under the 20 KB body for the envelope and JSON escapes

    def send(self, http, config, msg: Outgoing, *, now_ms: int) -> Sent:
        ts = now_ms // 1000
        text = fit(msg.text, self.max_bytes)
        body: dict[str, Any] = {"timestamp": str(ts), "sign": sign(config["secret"], ts), "msg_type": "text",
                "content": {"text": text}}
        raw = json.dumps(body, ensure_ascii=False).encode()
        while len(raw) > MAX_BODY:  # escapes made it longer than the text: cut more
            text = fit(text, len(text.encode()) - (len(raw) - MAX_BODY) - 16)
            body["content"]["text"] = text
            raw = json.dumps(body, ensure_ascii=False).encode()
        answer = post(http, config["webhook_url"], content=raw,
                      headers={"content-type": "application/json; charset=utf-8"}).json()
        code = answer.get("code", answer.get("StatusCode", 0))
        if code in THROTTLED:
            raise DeliveryError(f"feishu code {code}", retryable=True, retry_after=1)
        if code != 0:
            raise DeliveryError(f"feishu code {code}: {str(answer.get('msg', ''))[:80]}", retryable=False)
        return Sent(None)
