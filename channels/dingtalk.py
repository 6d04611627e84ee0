"""DingTalk (钉钉) custom robot with the "加签" security setting.

https://open.dingtalk.com/document/robots/customize-robot-security-settings: `timestamp` (ms) and
`sign = urlencode(base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)))` on the URL; markdown message,
`at.atMobiles` to mention. 20 messages a minute; over it the robot is throttled for 10 minutes (errcode 130101).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

from channels.base import Channel, DeliveryError, Outgoing, Sent, fit, post, register

THROTTLED = 130101


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


@register
class DingTalk(Channel):
    kind = "dingtalk"
    limits = ((20, 60.0),)
    max_bytes = 4096

    def send(self, http, config, msg: Outgoing, *, now_ms: int) -> Sent:
        url = f"{config['webhook_url']}&timestamp={now_ms}&sign={sign(config['secret'], now_ms)}"
        text = fit(msg.text + "".join(f" @{m}" for m in msg.mentions), self.max_bytes)
        body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": text},
                "at": {"atMobiles": msg.mentions, "isAtAll": False}}
        answer = post(http, url, json=body).json()
        code = answer.get("errcode", 0)
        if code == THROTTLED:
            raise DeliveryError("dingtalk errcode 130101 (throttled 10 min)", retryable=True, retry_after=600)
        if code != 0:
            raise DeliveryError(f"dingtalk errcode {code}: {str(answer.get('errmsg', ''))[:80]}", retryable=False)
        return Sent(None)
