"""Each push channel against a local receiver that checks the provider's request shape and signature the way
the provider does (DingTalk, Feishu, Tencent Cloud TC3), and decrypts Web Push (RFC 8291) and checks VAPID."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from channels import DeliveryError, Outgoing, channel
from channels.webpush import b64u, b64u_decode, new_vapid_key
from tests.push_receivers import Receiver


@pytest.fixture
def http():
    with httpx.Client() as client:
        yield client


def now_ms() -> int:
    return int(time.time() * 1000)


def test_wecom_markdown_within_4096_bytes_and_mention_by_mobile(http):
    r = Receiver()
    try:
        ch = channel("wecom")
        ch.send(http, {"webhook_url": f"{r.url}/cgi-bin/webhook/send?key=K1"}, Outgoing("t", "超时" * 3000),
                now_ms=now_ms())
        body = r.json()
        assert r.requests[0]["path"] == "/cgi-bin/webhook/send?key=K1"
        assert body["msgtype"] == "markdown" and len(body["markdown"]["content"].encode()) <= 4096
        ch.send(http, {"webhook_url": f"{r.url}/cgi-bin/webhook/send?key=K1"},
                Outgoing("t", "新线索", mentions=["13800000000"]), now_ms=now_ms())
        assert r.json()["text"] == {"content": "新线索", "mentioned_mobile_list": ["13800000000"]}
    finally:
        r.close()


def dingtalk_verifies(path: str, secret: str) -> bool:
    """What DingTalk does: the timestamp within an hour, and the sign recomputed from it and the secret."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    if abs(int(timestamp) - now_ms()) > 3600_000:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), sign)


def test_dingtalk_signature_and_markdown(http):
    r = Receiver()
    try:
        config = {"webhook_url": f"{r.url}/robot/send?access_token=T1", "secret": "SEC" + "x" * 61}
        channel("dingtalk").send(http, config, Outgoing("首次响应", "**超时**", mentions=["13900000000"]),
                                 now_ms=now_ms())
        assert dingtalk_verifies(r.requests[0]["path"], config["secret"])
        assert not dingtalk_verifies(r.requests[0]["path"], "another secret")
        body = r.json()
        assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "首次响应"
        assert body["at"] == {"atMobiles": ["13900000000"], "isAtAll": False}
    finally:
        r.close()


def test_dingtalk_throttled_is_retried_after_ten_minutes_and_other_errors_are_not(http):
    r = Receiver({"errcode": 130101, "errmsg": "send too fast"})
    try:
        config = {"webhook_url": f"{r.url}/robot/send?access_token=T1", "secret": "s"}
        with pytest.raises(DeliveryError) as err:
            channel("dingtalk").send(http, config, Outgoing("t", "x"), now_ms=now_ms())
        assert err.value.retryable and err.value.retry_after == 600
        r.answer = {"errcode": 310000, "errmsg": "sign not match"}
        with pytest.raises(DeliveryError) as err:
            channel("dingtalk").send(http, config, Outgoing("t", "x"), now_ms=now_ms())
        assert not err.value.retryable
    finally:
        r.close()


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (403, False)])
def test_http_statuses(http, status, retryable):
    r = Receiver(status=status)
    try:
        with pytest.raises(DeliveryError) as err:
            channel("wecom").send(http, {"webhook_url": f"{r.url}/x?key=K"}, Outgoing("t", "x"), now_ms=now_ms())
        assert err.value.retryable is retryable
        assert "key=K" not in str(err.value)  # the key never reaches an error text (nor a log)
    finally:
        r.close()


def test_a_timeout_is_retryable(http):
    r = Receiver(delay=6)
    try:
        with pytest.raises(DeliveryError) as err:
            channel("wecom").send(http, {"webhook_url": f"{r.url}/x?key=K"}, Outgoing("t", "x"), now_ms=now_ms())
        assert err.value.retryable
    finally:
        r.close()


def feishu_verifies(body: dict, secret: str) -> bool:
    """What Feishu does: HMAC-SHA256 keyed with timestamp + "\\n" + secret over an empty message, base64."""
    key = f"{body['timestamp']}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, body["sign"]) and abs(int(body["timestamp"]) - time.time()) < 3600


def test_feishu_signature_in_the_body_and_20kb(http):
    r = Receiver({"code": 0, "msg": "success", "data": {}})
    try:
        config = {"webhook_url": f"{r.url}/open-apis/bot/v2/hook/H1", "secret": "fs-secret"}
        channel("feishu").send(http, config, Outgoing("t", "提醒\"" * 20000), now_ms=now_ms())
        assert len(r.requests[0]["body"]) <= 20 * 1024
        body = r.json()
        assert feishu_verifies(body, "fs-secret") and not feishu_verifies(body, "wrong")
        assert body["msg_type"] == "text" and body["content"]["text"].startswith("提醒")
    finally:
        r.close()


def tencent_verifies(request: dict, secret_id: str, secret_key: str) -> bool:
    """Tencent Cloud's TC3-HMAC-SHA256, recomputed from the request as received (API v3 signature doc)."""
    h = request["headers"]
    auth = h["authorization"]
    algorithm, rest = auth.split(" ", 1)
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    credential_id, day, service, term = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    canonical_headers = "".join(f"{name}:{h[name].lower() if name == 'x-tc-action' else h[name]}\n" for name in signed)
    canonical = "\n".join(["POST", "/", "", canonical_headers, fields["SignedHeaders"],
                           hashlib.sha256(request["body"]).hexdigest()])
    scope = f"{day}/{service}/{term}"
    to_sign = f"{algorithm}\n{h['x-tc-timestamp']}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def mac(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    return (credential_id == secret_id and algorithm == "TC3-HMAC-SHA256"
            and time.strftime("%Y-%m-%d", time.gmtime(int(h["x-tc-timestamp"]))) == day
            and hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"]))


def test_tencent_sms_tc3_signature(http):
    r = Receiver({"Response": {"SendStatusSet": [{"SerialNo": "2019:123", "Code": "Ok"}], "RequestId": "r1"}})
    try:
        config = {"endpoint": f"{r.url}/", "secret_id": "AKID1", "secret_key": "SK1", "sdk_app_id": "1400000000",
                  "sign_name": "Leadflow", "template_id": "449739", "phone": "+8613800000000"}
        sent = channel("sms").send(http, config, Outgoing("t", "【超时提醒】首次响应"), now_ms=now_ms())
        assert sent.provider_message_id == "2019:123"
        request = r.requests[0]
        assert request["headers"]["x-tc-action"] == "SendSms" and request["headers"]["x-tc-version"] == "2021-01-11"
        assert tencent_verifies(request, "AKID1", "SK1") and not tencent_verifies(request, "AKID1", "SK2")
        body = r.json()
        assert body["PhoneNumberSet"] == ["+8613800000000"] and body["TemplateParamSet"] == ["【超时提醒】首次响应"]
        r.answer = {"Response": {"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}, "RequestId": "r2"}}
        with pytest.raises(DeliveryError) as err:
            channel("sms").send(http, config, Outgoing("t", "x"), now_ms=now_ms())
        assert err.value.retryable
        r.answer = {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "no"}, "RequestId": "r3"}}
        with pytest.raises(DeliveryError) as err:
            channel("sms").send(http, config, Outgoing("t", "x"), now_ms=now_ms())
        assert not err.value.retryable
    finally:
        r.close()


def browser_subscription(endpoint: str):
    """A browser's side of a subscription: its P-256 key pair and auth secret."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = b"0123456789abcdef"
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key, auth, {"endpoint": endpoint, "p256dh": b64u(public), "auth": b64u(auth)}


def vapid_verifies(authorization: str, audience: str) -> bool:
    """RFC 8292: `vapid t=<JWT ES256>,k=<public key>`; the JWT's aud is the push service's origin."""
    scheme, rest = authorization.split(" ", 1)
    fields = dict(part.split("=", 1) for part in rest.split(","))
    header, claims, signature = fields["t"].split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64u_decode(fields["k"]))
    raw = b64u_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:  # noqa: BLE001
        return False
    payload = json.loads(b64u_decode(claims))
    return scheme == "vapid" and payload["aud"] == audience and payload["exp"] > time.time()


def test_web_push_is_vapid_signed_and_the_receiver_decrypts_it(http):
    r = Receiver(status=201)
    try:
        key, auth, sub = browser_subscription(f"{r.url}/push/abc")
        config = {**sub, "vapid_private_key": new_vapid_key(), "vapid_subject": "mailto:ops@leadflow.invalid"}
        channel("webpush").send(http, config, Outgoing("首次响应", "【超时提醒】请立即处理", key="n1:t1", urgent=True),
                                now_ms=now_ms())
        request = r.requests[0]
        assert request["headers"]["content-encoding"] == "aes128gcm" and request["headers"]["urgency"] == "high"
        assert vapid_verifies(request["headers"]["authorization"], r.url)
        clear = http_ece.decrypt(request["body"], private_key=key, auth_secret=auth, version="aes128gcm")
        assert json.loads(clear) == {"title": "首次响应", "body": "【超时提醒】请立即处理", "key": "n1:t1", "url": "/"}
        r.status = 410
        with pytest.raises(DeliveryError) as err:
            channel("webpush").send(http, config, Outgoing("t", "x"), now_ms=now_ms())
        assert err.value.gone and not err.value.retryable
    finally:
        r.close()
