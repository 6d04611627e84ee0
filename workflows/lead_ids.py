"""The keys of lead ids, and resolving a customer to the id of their lead.

A lead's id (= its workflow id) is `lead-<brand>-<HMAC-SHA256(key, phone)[:20]>`: without the key nobody can
compute the id of a phone, so a dealer cannot probe whether a customer is followed elsewhere. Leads started
before keyed ids, or under an older key, keep their ids: resolving a customer tries the current key, then
the older keys, then the legacy unkeyed id, and a customer whose lead already exists under one of them stays
there (duplicate detection, idempotent intake and the customer's later leads all follow it).

LEADFLOW_LEAD_ID_KEYS is `id:base64key[,id:base64key...]`, newest first (the same shape as the codec keys;
`python -c "from core.temporal_client import new_key; print(new_key('ids-2026'))"`). Rotation: put the new key
first and keep every older key for as long as leads made with it may come back (their customers' next
leads follow the older id). Unset (a local run): `data/lead-id.key`, made once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from collections.abc import Collection
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.settings import get_settings
from domain.customers import lead_id_candidates

DEV_KEY_FILE = Path(__file__).resolve().parent.parent / "data" / "lead-id.key"
_KEY_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_keys: tuple[bytes, ...] | None = None


class LeadIdKeyError(ValueError):
    """LEADFLOW_LEAD_ID_KEYS cannot be used. Never names key material."""


def parse_keys(text: str) -> tuple[bytes, ...]:
    keys, ids = [], set()
    for n, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID_RE.fullmatch(key_id.strip()) or key_id in ids:
            raise LeadIdKeyError(f"LEADFLOW_LEAD_ID_KEYS entry {n} is not `id:base64key` with a new id")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise LeadIdKeyError(f"LEADFLOW_LEAD_ID_KEYS key {key_id!r} is not valid base64") from None
        if len(key) < 16:
            raise LeadIdKeyError(f"LEADFLOW_LEAD_ID_KEYS key {key_id!r} is {len(key)} bytes; use 32 random bytes")
        ids.add(key_id)
        keys.append(key)
    if not keys:
        raise LeadIdKeyError("LEADFLOW_LEAD_ID_KEYS holds no key")
    return tuple(keys)


def dev_keys(path: Path = DEV_KEY_FILE) -> str:
    """The local run's key, made once in data/lead-id.key (a fresh random key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        entry = f"local:{base64.b64encode(os.urandom(32)).decode()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the local stack made it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(entry + "\n")
    return path.read_text().strip()


def keys() -> tuple[bytes, ...]:
    """The lead-id keys of this process, newest first (read once)."""
    global _keys
    if _keys is None:
        configured = get_settings().lead_id_keys
        _keys = parse_keys(configured.get_secret_value() if configured else dev_keys())
    return _keys


def configure(text: str | None) -> None:
    """Use these keys from now on (None: read the settings again). For the tests and the tools."""
    global _keys
    _keys = None if text is None else parse_keys(text)


def new_lead_id(brand: str, e164: str) -> str:
    """The id a customer's first lead of the brand gets today (the current key)."""
    return lead_id_candidates(brand, e164, keys()[:1])[0]


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def older_ids(brand: str, e164: str) -> list[str]:
    """The ids the customer's first lead of the brand may have from before the current key (older keys, legacy)."""
    return lead_id_candidates(brand, e164, keys())[1:]


async def resolve(client: Client, brand: str, e164: str, known: Collection[str] | None = None) -> str:
    """The base id of the customer's leads of the brand: the older id (older key, or legacy) their first lead
    already has, else the current key's.

    `known`: which of `older_ids` have a lead in the read model, as the caller read it (the API does). A lead
    under an older id was made before the current key and is in the read model since its intake answered, so
    its row answers without asking Temporal; without `known`, one DescribeWorkflow per older id does (the tools,
    the tests): ~0.02 CPU-s in the Temporal server per intake, measured in issue 12."""
    ids = lead_id_candidates(brand, e164, keys())
    older = ids[1:]
    if known is not None:
        return next((i for i in older if i in known), ids[0])
    found = await asyncio.gather(*(_exists(client, i) for i in older))
    return next((i for i, there in zip(older, found, strict=True) if there), ids[0])
