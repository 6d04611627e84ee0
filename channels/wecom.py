"""WeCom (企业微信) group robot: POST the webhook URL (its `key` is the secret) with a markdown message.

https://developer.work.weixin.qq.com/document/path/91770: markdown content <= 4096 bytes; 20 messages a
minute per robot. The markdown type cannot @mention by mobile, so a message that mentions someone is sent as
`text` with `mentioned_mobile_list` (the same words, no markup). errcode 45009: over the frequency limit.
"""

from __future__ import annotations

from channels.base import Channel, DeliveryError, Outgoing, Sent, fit, post, register

THROTTLED = {45009, 45033, -1}  # over the frequency limit; -1: system busy


@register
class WeCom(Channel):
    kind = "wecom"
    limits = ((20, 60.0),)
    max_bytes = 4096

    def send(self, http, config, msg: Outgoing, *, now_ms: int) -> Sent:
        content = fit(msg.text, self.max_bytes)
        if msg.mentions:
            body = {"msgtype": "text", "text": {"content": content, "mentioned_mobile_list": msg.mentions}}
        else:
            body = {"msgtype": "markdown", "markdown": {"content": content}}
        answer = post(http, config["webhook_url"], json=body).json()
        code = answer.get("errcode", 0)
        if code in THROTTLED:
            raise DeliveryError(f"wecom errcode {code}", retryable=True, retry_after=60)
        if code != 0:
            raise DeliveryError(f"wecom errcode {code}: {answer.get('errmsg', '')[:80]}", retryable=False)
        return Sent(None)
