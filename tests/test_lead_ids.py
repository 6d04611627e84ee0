"""Keyed lead ids: nobody without the key computes a phone's lead id; the key rotates, and leads made under an
older key or before keys (legacy, unkeyed) keep their ids, so duplicate detection works across a rotation."""

from __future__ import annotations

import stat

import pytest

from core.temporal_client import new_key
from domain.customers import customer_key, lead_id_for, normalize_phone
from tests.conftest import TEST_LEAD_ID_KEYS
from tests.fixtures import BRAND, raw_lead
from tests.harness import lab
from workflows import lead_ids


@pytest.fixture
def keys():
    """Set the process's lead-id keys for a test; the suite's key again afterwards."""
    yield lead_ids.configure
    lead_ids.configure(TEST_LEAD_ID_KEYS)


def test_a_lead_id_is_a_keyed_hmac_not_computable_from_the_phone_alone(keys):
    phone = normalize_phone("13800001920")
    legacy = lead_id_for(BRAND, phone)
    assert legacy.endswith(customer_key(phone))  # what anybody could compute before
    keys(new_key("a"))
    first = lead_ids.new_lead_id(BRAND, phone)
    keys(new_key("b"))
    assert first != legacy and lead_ids.new_lead_id(BRAND, phone) not in (first, legacy)
    assert first.startswith("lead-aurora-") and len(first) == len(legacy)


async def test_after_a_rotation_the_customer_is_still_found_under_the_older_key(env, engine, keys):
    old, new = new_key("old"), new_key("new")
    async with lab(env, engine) as L:
        keys(old)
        first = await L.intake(raw_lead(1921))
        keys(f"{new},{old}")  # rotated: the new key makes new ids, the old one still resolves
        again = await L.intake(raw_lead(1921, external_id="web-1921-b", channel="walk_in"))
        assert (again.lead_id, again.outcome) == (first.lead_id, "merged")
        repeat = await L.intake(raw_lead(1921))
        assert repeat.lead_id == first.lead_id and repeat.repeat
        fresh = await L.intake(raw_lead(1922))
        assert fresh.lead_id == lead_ids.new_lead_id(BRAND, normalize_phone(raw_lead(1922).phone)) != \
            lead_id_for(BRAND, normalize_phone(raw_lead(1922).phone), lead_ids.parse_keys(old)[0])


async def test_a_lead_started_before_keyed_ids_keeps_its_legacy_id(env, engine, monkeypatch):
    async with lab(env, engine) as L:
        phone = normalize_phone(raw_lead(1923).phone)
        legacy = lead_id_for(BRAND, phone)
        resolve = lead_ids.resolve

        async def before_keys(client, brand, e164, known=None):  # the code of before: the unkeyed id
            return lead_id_for(brand, e164)

        monkeypatch.setattr(lead_ids, "resolve", before_keys)
        first = await L.intake(raw_lead(1923))
        monkeypatch.setattr(lead_ids, "resolve", resolve)
        assert first.lead_id == legacy
        merged = await L.intake(raw_lead(1923, external_id="web-1923-b"))
        assert (merged.lead_id, merged.outcome) == (legacy, "merged")  # one open lead per customer, still


def test_keys_are_checked_and_a_local_key_is_made_once(tmp_path):
    with pytest.raises(lead_ids.LeadIdKeyError, match="not `id:base64key`"):
        lead_ids.parse_keys("no-colon")
    with pytest.raises(lead_ids.LeadIdKeyError, match="bytes"):
        lead_ids.parse_keys("k:c2hvcnQ=")
    path = tmp_path / "data" / "lead-id.key"
    made = lead_ids.dev_keys(path)
    assert lead_ids.parse_keys(made) and lead_ids.dev_keys(path) == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_read_model_answers_for_the_older_ids_without_asking_temporal(env, engine, monkeypatch):
    """The API reads which older ids (legacy, older keys) have a lead row, and the intake then describes no
    workflow: a new customer costs no DescribeWorkflow per older id, a legacy customer still finds their lead."""
    from sqlmodel import Session

    from api.routes.leads import _known_older_ids
    from tests.fixtures import OPS
    from workflows import gateway

    async with lab(env, engine) as L:
        legacy_raw, new_raw = raw_lead(1924), raw_lead(1925)
        legacy = lead_id_for(BRAND, normalize_phone(legacy_raw.phone))
        resolve = lead_ids.resolve

        async def before_keys(client, brand, e164, known=None):  # the code of before: the unkeyed id
            return lead_id_for(brand, e164)

        monkeypatch.setattr(lead_ids, "resolve", before_keys)
        assert (await L.intake(legacy_raw)).lead_id == legacy  # projected before the intake answers
        monkeypatch.setattr(lead_ids, "resolve", resolve)

        async def no_describe(client, workflow_id):
            raise AssertionError(f"DescribeWorkflow {workflow_id}: the read model should have answered")

        monkeypatch.setattr(lead_ids, "_exists", no_describe)
        with Session(engine) as session:
            again = legacy_raw.model_copy(update={"external_id": "web-1924-b",
                                                  "phone": normalize_phone(legacy_raw.phone)})
            fresh = new_raw.model_copy(update={"phone": normalize_phone(new_raw.phone)})
            known = _known_older_ids(session, [again, fresh])
        assert known == {legacy}
        merged = await gateway.submit_raw_lead(L.client, L.task_queue, L.policy, again, OPS, known)
        assert (merged.lead_id, merged.outcome) == (legacy, "merged")
        created = await gateway.submit_raw_lead(L.client, L.task_queue, L.policy, fresh, OPS, known)
        L.started.add(created.lead_id)
        assert created.outcome == "created" and created.lead_id == lead_ids.new_lead_id(BRAND, fresh.phone)
        with pytest.raises(AssertionError, match="DescribeWorkflow"):  # the control: without it, Temporal is asked
            await lead_ids.resolve(L.client, BRAND, fresh.phone)
