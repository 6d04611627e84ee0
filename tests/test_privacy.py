"""Privacy: customers' names and phones are never in clear in Temporal's histories (payloads and failures
AES-GCM encrypted, keys from LEADFLOW_CODEC_KEYS, rotation), lead ops read them in the Temporal UI through
the codec endpoint, and no log line carries a phone in clear or a name."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from api.auth import SESSION_COOKIE
from core.logging import get_logger, mask_phones_in
from core.settings import Settings, get_settings
from core.temporal_client import ENCODING, KEY_ID, CodecError, EncryptionCodec, data_converter, new_key, parse_keys
from db.engine import make_engine
from devtools import dev
from domain import commands as c
from domain.policy import load_policy
from tests.conftest import TEST_CODEC_KEYS, password_for, suite_converter
from tests.fixtures import manager, raw_lead
from tests.harness import Lab, decode_payloads
from tests.harness import payloads_in as harness_payloads_in
from tests.test_api import api, auth, body
from tests.test_logging import captured_json
from worker import build_worker
from workflows import gateway
from workflows.lead import LeadWorkflow
from workflows.messages import ReassignSignal

NAME = "欧阳娜娜 Zephyrine Quill"
RAW_PHONE = "139 1234 5678"  # each test's lead its own customer: 139 1234 56<n>
E164 = "+8613912345678"


def phone(n: int) -> str:
    return f"139 1234 56{n:02d}"


def leaks(blob: bytes | str, raw_phone: str = RAW_PHONE) -> list[str]:
    """The customer's name (whole or in part) or phone (raw, digits, E.164, dashed) found in `blob`."""
    digits = raw_phone.replace(" ", "")
    secrets = [NAME, "欧阳娜娜", "Zephyrine", digits, f"+86{digits}", f"86{digits}", raw_phone,
               f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"]
    data = blob.encode() if isinstance(blob, str) else blob
    return [s for s in secrets if s.encode() in data]


def history_bytes(history: WorkflowHistory) -> bytes:
    return b"".join(event.SerializeToString() for event in history.events) + history.to_json().encode()


def payloads_in(history: WorkflowHistory) -> list[Payload]:
    return harness_payloads_in(history.events)


E164_1 = "+8613912345601"


def customer(n: int) -> dict:
    return body(n, customer_name=NAME, phone=phone(n))


# ------------------------------------------------------------------ histories

async def test_no_name_or_phone_in_clear_anywhere_in_a_lead_history_yet_the_api_and_a_replay_read_them(env, engine):
    async with api(env, engine) as (http, L):
        with captured_json() as lines:
            taken = await http.post("/v1/leads", json=customer(1), headers=auth("ops"))
            assert taken.status_code == 200, taken.text
            lead_id = taken.json()["lead_id"]
            for path, payload, user in [
                ("acknowledge", None, "d-sh-1-mgr"),
                ("assign", {"consultant_id": "d-sh-1-c1"}, "d-sh-1-mgr"),
                ("log-follow-up", {"channel": "call", "note": f"{NAME} asks to be called on {phone(1)}"}, "d-sh-1-c1"),
            ]:
                done = await http.post(f"/v1/leads/{lead_id}/{path}", json=payload, headers=auth(user))
                assert done.status_code == 200, done.text
            seen = await http.post("/v1/behaviour-events", headers=auth("ops"), json={
                "brand": "Aurora", "phone": E164_1, "event_id": "pv-1", "kind": "page_view", "source": NAME[:20]})
            assert seen.status_code == 200, seen.text
            await L.handle(lead_id).signal(LeadWorkflow.reassign, ReassignSignal(  # as from the Temporal UI
                reason=f"{NAME} ({E164_1}) wants another dealer", dealer_id="D-NOPE"))
            await L.quiet(lead_id)
            detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        history = await L.handle(lead_id).fetch_history()

    assert detail["customer"]["name"] == NAME and detail["customer"]["phone"] == E164_1  # decrypted where it is used
    kinds = {e.WhichOneof("attributes") for e in history.events}
    assert {"workflow_execution_update_accepted_event_attributes", "workflow_execution_signaled_event_attributes",
            "activity_task_scheduled_event_attributes", "activity_task_completed_event_attributes",
            "marker_recorded_event_attributes",  # local activities' results
            "upsert_workflow_search_attributes_event_attributes"} <= kinds
    assert leaks(history_bytes(history), phone(1)) == []
    encrypted = [p for p in payloads_in(history) if p.metadata.get("encoding") == ENCODING]
    assert len(encrypted) > 10 and {p.metadata[KEY_ID] for p in encrypted} == {b"test-current"}

    await Replayer(workflows=[LeadWorkflow], data_converter=suite_converter()).replay_workflow(history)
    await decode_payloads(history.events, suite_converter().payload_codec)  # the test sees a leak when there is one
    assert {NAME, E164_1} <= set(leaks(history_bytes(history), phone(1)))
    assert not [line for line in lines if leaks(json.dumps(line, ensure_ascii=False), phone(1))]  # nor in a log line


async def test_failure_messages_and_stack_traces_are_encrypted_and_still_read_back():
    converter = suite_converter()
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    try:
        raise ApplicationError(f"cannot save {NAME}, {E164}", type="Boom")
    except ApplicationError as err:
        failure = Failure()
        await converter.encode_failure(err, failure)
    assert leaks(failure.SerializeToString()) == [] and failure.message == "Encoded failure"
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError) and back.message == f"cannot save {NAME}, {E164}" and back.type == "Boom"


async def test_a_rotated_key_encrypts_from_then_on_and_the_old_keys_history_still_replays(env, engine, caplog):
    """Rotation as ops do it: a new key first, the old one kept. A new worker replays the lead's history
    written with the old key; what it writes from then on uses the new key."""
    rotated_keys = f"{new_key('next')},{TEST_CODEC_KEYS}"
    rotated = Client(env.client.service_client, namespace=env.client.namespace,
                     data_converter=data_converter(Settings(codec_keys=rotated_keys)))
    task_queue, policy = f"leads-{uuid.uuid4()}", load_policy(time_scale=1)
    L = Lab(env, engine, task_queue, policy)
    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            first = build_worker(env.client, task_queue, engine, executor,
                                 max_cached_workflows=0)  # no sticky queue for the next worker to wait on
            async with first:
                lead_id = (await L.intake(raw_lead(2, customer_name=NAME, phone=phone(2)))).lead_id
                await L.quiet(lead_id)
            async with build_worker(rotated, task_queue, engine, executor):
                done = await gateway.act(rotated, lead_id,
                                         c.CommandEnvelope(actor=manager("D-SH-1"), command=c.Acknowledge()))
                assert done.stage == "acknowledged"
                L.client = rotated
                await L.quiet(lead_id)
                state = await gateway.current_state(rotated, lead_id)
        assert state.profile.customer_name == NAME
        history = await rotated.get_workflow_handle(lead_id).fetch_history()
        keys = {p.metadata[KEY_ID] for p in payloads_in(history) if p.metadata.get("encoding") == ENCODING}
        assert keys == {b"test-current", b"next"} and leaks(history_bytes(history), phone(2)) == []
        await Replayer(workflows=[LeadWorkflow], data_converter=rotated.data_converter).replay_workflow(history)
        new_only = data_converter(Settings(codec_keys=rotated_keys.split(",")[0]))
        with pytest.raises(Exception, match="CodecError"):  # the old key dropped too early: said plainly in the log
            await Replayer(workflows=[LeadWorkflow], data_converter=new_only).replay_workflow(history)
        assert "payload encrypted with key 'test-current', which LEADFLOW_CODEC_KEYS does not hold" in caplog.text
    finally:
        await L.close()


# ------------------------------------------------------------------ the codec

async def test_rotation_unknown_keys_corruption_and_clear_payloads():
    old_entry, new_entry = new_key("2025-01"), new_key("2025-07")
    old = EncryptionCodec(parse_keys(old_entry))
    [sealed] = await old.encode([Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME).encode())])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"2025-01" and not leaks(sealed.data)
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is encrypted too

    rotated = EncryptionCodec(parse_keys(f"{new_entry},{old_entry}"))  # the new key first, the old one kept
    assert rotated.key_id == "2025-07" and rotated.key_ids == ["2025-07", "2025-01"]
    [plain] = await rotated.decode([sealed])
    assert json.loads(plain.data) == NAME and plain.metadata["encoding"] == b"json/plain"
    [resealed] = await rotated.encode([plain])
    assert resealed.metadata[KEY_ID] == b"2025-07"
    assert (await rotated.encode([resealed]))[0] == resealed  # an encrypted payload is not encrypted twice

    with pytest.raises(CodecError, match=r"key '2025-01', which LEADFLOW_CODEC_KEYS does not hold"):
        await EncryptionCodec(parse_keys(new_entry)).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecError, match="does not decrypt"):
        await old.decode([tampered])
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'"recorded before encryption"')
    assert (await old.decode([clear])) == [clear]  # histories written in clear still read


def test_keys_are_checked_and_errors_never_show_key_material():
    secret = base64.b64encode(os.urandom(16)).decode()
    for value, message in [("", "holds no key"), ("k1", "not `id:base64key`"),
                           ("bad id!:" + secret, "not `id:base64key`"),
                           ("k1:not base64!", "not valid base64"), (f"k1:{secret}", "16 bytes; AES-256 needs 32"),
                           (f"{new_key('k1')},{new_key('k1')}", "twice")]:
        with pytest.raises(CodecError, match=message) as raised:
            parse_keys(value)
        assert secret not in str(raised.value)
    assert list(parse_keys(f" {new_key('a')} , {new_key('b')} ,")) == ["a", "b"]
    entry = new_key("a")
    assert entry.split(":")[1] not in repr(Settings(codec_keys=entry))  # a SecretStr: not in a settings dump


def test_without_keys_payloads_go_in_clear_and_each_process_says_so_once():
    with captured_json() as lines:
        converter = data_converter(Settings(codec_keys=None))
    assert converter is pydantic_data_converter
    [warning] = [line for line in lines if line["event"].startswith("payload encryption is off")]
    assert warning["level"] == "warning" and "LEADFLOW_CODEC_KEYS" in warning["event"]
    assert data_converter(Settings(codec_keys=new_key("k"))).payload_codec is not None


def test_the_local_stack_keeps_its_own_key_and_its_ui_decodes_through_the_api(tmp_path):
    keys = dev.local_codec_keys(tmp_path / "data")
    path = tmp_path / "data" / "codec.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and list(parse_keys(keys))[0].startswith("local-")
    assert dev.local_codec_keys(tmp_path / "data") == keys  # kept across restarts: old leads still decode
    command = dev.server_command("temporal", "default")
    assert command[command.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8000/codec"


def test_compose_requires_a_key_and_points_the_ui_at_the_codec_endpoint_with_credentials():
    compose = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
    assert compose["x-leadflow"]["environment"]["LEADFLOW_CODEC_KEYS"].startswith("${LEADFLOW_CODEC_KEYS:?")
    ui = compose["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].removesuffix("}").endswith("/codec")
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"


# ------------------------------------------------------------------ the codec endpoint

UI = {"Origin": get_settings().temporal_ui_url.rstrip("/")}


def as_json(payloads: list[Payload]) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


async def test_the_codec_endpoint_decodes_for_lead_ops_only(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=customer(3), headers=auth("ops"))).json()["lead_id"]
        await L.quiet(lead_id)
        history = await L.handle(lead_id).fetch_history()
        sealed = [p for p in payloads_in(history) if p.metadata.get("encoding") == ENCODING]
        request = as_json(sealed)
        headers = {"X-Namespace": "default", **UI}

        with captured_json() as lines:
            decoded = await http.post("/codec/decode", json=request, headers=headers | auth("ops"))
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI["Origin"]
        assert decoded.headers["access-control-allow-credentials"] == "true"
        data = [base64.b64decode(p.get("data", "")) for p in decoded.json()["payloads"]]
        assert any(NAME.encode() in d for d in data) and any(b"+8613912345603" in d for d in data)
        assert all(p["metadata"]["encoding"] != base64.b64encode(ENCODING).decode() for p in decoded.json()["payloads"])
        [audit] = [line for line in lines if line["event"] == "codec decode"]
        assert audit["user_id"] == "ops" and audit["payloads"] == len(sealed) and audit["namespace"] == "default"

        assert (await http.post("/codec/decode", json=request, headers=headers | auth("ops-head"))).status_code == 200
        for user in ("rev-1", "rm-east", "cc", "d-sh-1-mgr", "d-sh-1-c1", "d-sh-1-opslead"):
            refused = await http.post("/codec/decode", json=request, headers=headers | auth(user))
            assert refused.status_code == 403 and NAME not in refused.text, user
        missing = await http.post("/codec/decode", json=request, headers=headers)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert (await http.post("/codec/decode", json=request,
                                headers=headers | {"Authorization": "Bearer nope"})).status_code == 401
        assert (await http.post("/codec/encode", json=request, headers=headers | auth("d-sh-1-mgr"))).status_code == 403


async def test_the_codec_endpoint_encodes_and_refuses_bad_bodies_and_unknown_keys_clearly(env, engine):
    async with api(env, engine) as (http, L):
        plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"reason": NAME}).encode())
        encoded = await http.post("/codec/encode", json=as_json([plain]), headers=auth("ops"))
        assert encoded.status_code == 200, encoded.text
        [sealed] = encoded.json()["payloads"]
        assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"test-current" and NAME not in encoded.text
        back = await http.post("/codec/decode", json=encoded.json(), headers=auth("ops"))
        assert json.loads(base64.b64decode(back.json()["payloads"][0]["data"])) == {"reason": NAME}
        clear = await http.post("/codec/decode", json=as_json([plain]), headers=auth("ops"))
        assert clear.json() == as_json([plain])  # a payload in clear comes back as it is

        [foreign] = await EncryptionCodec(parse_keys(new_key("elsewhere"))).encode([plain])
        unknown = await http.post("/codec/decode", json=as_json([foreign]), headers=auth("ops"))
        assert unknown.status_code == 422 and "'elsewhere'" in unknown.json()["detail"]
        for bad in (b"[1, 2]", b'{"payloads": [{"data": "not base64!"}]}', b"{", b'{"payloads": 7}'):
            answer = await http.post("/codec/decode", content=bad,
                                     headers=auth("ops") | {"Content-Type": "application/json"})
            assert answer.status_code == 422, (bad, answer.status_code, answer.text)


async def test_the_temporal_ui_sends_the_session_cookie_of_signed_in_lead_ops_and_cors_lets_only_it_in(env, engine):
    async with api(env, engine) as (http, L):
        preflight = await http.options("/codec/decode", headers=UI | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == UI["Origin"]
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert {"authorization", "content-type", "x-namespace"} <= {
            h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        stranger = await http.options("/codec/decode", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
        elsewhere = await http.get("/v1/me", headers=UI | auth("ops"))  # the rest of the API: no CORS
        assert elsewhere.status_code == 200 and "access-control-allow-origin" not in elsewhere.headers

        plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
        http.cookies.clear()  # what the UI sends with "include credentials": the portal's session cookie, nothing else
        signed = await http.post("/v1/auth/login", json={"login": "ops", "password": password_for("ops")})
        assert signed.status_code == 200 and SESSION_COOKIE in http.cookies
        with_cookie = await http.post("/codec/encode", json=as_json([plain]), headers=UI)
        assert with_cookie.status_code == 200 and with_cookie.headers["access-control-allow-origin"] == UI["Origin"]
        http.cookies.clear()
        assert (await http.post("/v1/auth/login",
                                json={"login": "d-sh-1-mgr",
                                      "password": password_for("d-sh-1-mgr")})).status_code == 200
        assert (await http.post("/codec/encode", json=as_json([plain]), headers=UI)).status_code == 403
        http.cookies.clear()
        assert (await http.post("/codec/encode", json=as_json([plain]), headers=UI)).status_code == 401
        assert "/codec" not in json.dumps(http._transport.app.openapi()["paths"])  # Temporal's protocol, not our API


# ------------------------------------------------------------------ logs

def test_phones_are_masked_in_every_log_line_whatever_carries_them():
    import logging

    with captured_json() as lines:
        log = get_logger("test")
        log.info(f"calling {E164}", phone=RAW_PHONE, nested={"numbers": ["13912345678", "+86 21 5555 1234"]},
                 number=13912345678, error=ValueError(f"bad phone {E164}"), lead_id="lead-aurora-a13900001111b",
                 at="2026-01-02T13:14:15.161718Z", ms=17000000000001)
        logging.getLogger("temporalio.activity").warning("activity failed: %s", f"insert {RAW_PHONE}")
    first, second = lines[-2:]
    assert leaks(json.dumps(lines, ensure_ascii=False)) == []
    assert first["event"] == "calling +86139****5678" and first["phone"] == "139****5678"
    assert first["nested"] == {"numbers": ["139****5678", "+8621****1234"]} and first["number"] == "139****5678"
    assert first["error"] == "ValueError('bad phone +86139****5678')"
    assert first["lead_id"] == "lead-aurora-a13900001111b" and first["ms"] == 17000000000001  # not phones
    assert first["at"] == "2026-01-02T13:14:15.161718Z"
    assert second["event"] == "activity failed: insert 139****5678"
    assert mask_phones_in("电话13912345678，或 0086-139-1234-5678") == "电话139****5678，或 0086139****5678"


def test_database_errors_do_not_carry_the_values_that_failed(tmp_path):
    """An activity's database error becomes its failure message and a log line: never the customer's data."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("create table t (name text primary key)"))
        conn.execute(text("insert into t values (:name)"), {"name": NAME})
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        conn.execute(text("insert into t values (:name)"), {"name": NAME})
    assert NAME not in str(raised.value) and NAME not in repr(raised.value)
    engine.dispose()
