"""One way to connect to Temporal, for the worker, the API and the tools, and one data converter.

The data converter is pydantic JSON, encrypted: with LEADFLOW_CODEC_KEYS set, every payload (workflow
and activity inputs and results, update and signal arguments, query answers) and every failure's
message and stack trace leave the process AES-256-GCM encrypted, so the customer's name and phone are
never in clear in Temporal's histories. The Temporal UI and CLI decode them through the API's codec
endpoint (api/routes/codec.py), for lead ops only.

LEADFLOW_CODEC_KEYS is `id:base64key[,id:base64key...]`: the first key encrypts, every key decrypts
(rotation: put a new key first, keep the old ones as long as histories encrypted with them are kept).
A payload names its key in its metadata (`encryption-key-id`); a payload that is not encrypted (one
written before encryption was turned on) is read as it is.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.runtime import Runtime

from core.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12
_KEY_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecError(ValueError):
    """A key that cannot be used, or a payload that cannot be decrypted. Never names key material."""


def new_key(key_id: str) -> str:
    """A fresh `id:base64key` entry for LEADFLOW_CODEC_KEYS (a random 256-bit key)."""
    if not _KEY_ID_RE.fullmatch(key_id):
        raise CodecError(f"a key id is 1-64 letters, digits, '.', '_' or '-', not {key_id!r}")
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def parse_keys(text: str) -> dict[str, bytes]:
    """LEADFLOW_CODEC_KEYS -> {key id: 32-byte key}, in order (the first encrypts)."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID_RE.fullmatch(key_id):
            raise CodecError(f"LEADFLOW_CODEC_KEYS entry {n} is not `id:base64key` with an id of letters, digits, "
                             "'.', '_' or '-'")
        if key_id in keys:
            raise CodecError(f"LEADFLOW_CODEC_KEYS names key {key_id!r} twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecError(f"LEADFLOW_CODEC_KEYS key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise CodecError(f"LEADFLOW_CODEC_KEYS key {key_id!r} is {len(key)} bytes; AES-256 needs 32 "
                             "(generate one with: python -c \"from core.temporal_client import new_key; "
                             "print(new_key('k1'))\")")
        keys[key_id] = key
    if not keys:
        raise CodecError("LEADFLOW_CODEC_KEYS holds no key")
    return keys


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload (its metadata too); the key id goes in clear beside it."""

    def __init__(self, keys: Mapping[str, bytes]):
        if not keys:
            raise CodecError("the encryption codec needs at least one key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.key_id = next(iter(keys))  # the current key: it encrypts

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") == ENCODING:
            return payload  # already encrypted (e.g. sent back through the codec endpoint)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written in clear (before encryption was turned on): read as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with key {key_id!r}, which LEADFLOW_CODEC_KEYS does not hold "
                             f"(it holds {', '.join(self._ciphers)}): add that key back to decrypt it")
        try:
            plain = cipher.decrypt(payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise CodecError(f"payload encrypted with key {key_id!r} does not decrypt: it is corrupted, or "
                             "LEADFLOW_CODEC_KEYS holds a different key under that id") from None
        return Payload.FromString(plain)


def codec_for(settings: Settings) -> EncryptionCodec | None:
    """The codec LEADFLOW_CODEC_KEYS asks for; None when it is not set (payloads in clear)."""
    if settings.codec_keys is None:
        return None
    return EncryptionCodec(parse_keys(settings.codec_keys.get_secret_value()))


def encrypted_converter(codec: EncryptionCodec) -> DataConverter:
    """pydantic JSON, each payload encrypted, failure messages and stack traces moved into an encrypted payload."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def data_converter(settings: Settings) -> DataConverter:
    """The one data converter: the worker, the API, the tools, the replayer and the tests use it."""
    codec = codec_for(settings)
    if codec is None:
        from core.logging import get_logger

        get_logger("privacy").warning(
            "payload encryption is off: customer names and phones go to Temporal in clear; set LEADFLOW_CODEC_KEYS "
            "(see README, Privacy)")
        return pydantic_data_converter
    return encrypted_converter(codec)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """The client for these settings; `runtime`: the worker's, exporting the SDK's metrics (None: the default)."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=Path(settings.temporal_tls_cert).read_bytes(),
            client_private_key=Path(settings.temporal_tls_key).read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        api_key=settings.temporal_api_key,
        tls=tls,
        runtime=runtime,
    )
