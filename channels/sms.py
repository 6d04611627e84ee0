"""SMS behind a port: `SmsProvider.send_sms(http, config, phone, params, key)`. One real provider: Tencent Cloud
SMS (SendSms 2021-01-11), signed with TC3-HMAC-SHA256 as documented at
https://cloud.tencent.com/document/api/382/52072 (signature v3). A second provider (Alibaba Cloud) is one
more `SmsProvider` class named in the target's config (`provider`).

China's SMS gateways send only approved templates: the target's config names the template (`template_id`)
whose single parameter is the rendered text (cut to `param_max` characters).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from channels.base import Channel, DeliveryError, Outgoing, Sent, post, register

TENCENT_HOST = "sms.tencentcloudapi.com"
TENCENT_RETRYABLE = {"RequestLimitExceeded", "InternalError", "LimitExceeded.PhoneNumberThirtySecondLimit",
                     "FailedOperation.InsufficientBalanceInSmsPackage"}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(secret_id: str, secret_key: str, *, host: str, action: str, payload: bytes,
                      timestamp: int, service: str = "sms") -> str:
    """The `Authorization` header of a Tencent Cloud API v3 POST (TC3-HMAC-SHA256)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:application/json; charset=utf-8\nhost:{host}\nx-tc-action:{action.lower()}\n"
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = "\n".join(["POST", "/", "", canonical_headers, signed_headers,
                                   hashlib.sha256(payload).hexdigest()])
    scope = f"{day}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                         hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


class SmsProvider:
    name: str

    def send_sms(self, http, config: dict[str, Any], phone: str, params: list[str], *, now_ms: int) -> Sent:
        raise NotImplementedError


class TencentSms(SmsProvider):
    name = "tencent"

    def send_sms(self, http, config, phone, params, *, now_ms):
        payload = json.dumps({
            "PhoneNumberSet": [phone], "SmsSdkAppId": config["sdk_app_id"], "SignName": config["sign_name"],
            "TemplateId": config["template_id"], "TemplateParamSet": params,
        }, ensure_ascii=False).encode()
        timestamp = now_ms // 1000
        host = config.get("host", TENCENT_HOST)
        headers = {
            "Authorization": tc3_authorization(config["secret_id"], config["secret_key"], host=host, action="SendSms",
                                               payload=payload, timestamp=timestamp),
            "Content-Type": "application/json; charset=utf-8", "Host": host, "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp), "X-TC-Version": "2021-01-11",
            "X-TC-Region": config.get("region", "ap-guangzhou"),
        }
        answer = post(http, config.get("endpoint", f"https://{host}/"), content=payload, headers=headers).json()
        response = answer.get("Response", {})
        if error := response.get("Error"):
            code = str(error.get("Code", ""))
            raise DeliveryError(f"tencent sms {code}", retryable=code in TENCENT_RETRYABLE)
        status = (response.get("SendStatusSet") or [{}])[0]
        if status.get("Code") != "Ok":
            code = str(status.get("Code", ""))
            raise DeliveryError(f"tencent sms {code}", retryable=code in TENCENT_RETRYABLE)
        return Sent(status.get("SerialNo") or response.get("RequestId"))


PROVIDERS: dict[str, SmsProvider] = {p.name: p for p in [TencentSms()]}


@register
class Sms(Channel):
    kind = "sms"
    per_person = True
    max_bytes = 600

    def send(self, http, config, msg: Outgoing, *, now_ms: int) -> Sent:
        phone = config["phone"]  # the person's mobile, added by the delivery from their preferences
        provider = PROVIDERS[config.get("provider", "tencent")]
        text = msg.text[: int(config.get("param_max", 200))]
        return provider.send_sms(http, config, phone, [text], now_ms=now_ms)
