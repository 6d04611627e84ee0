"""Credentials: how a bearer token is stored (only its hash), shared by the API and the operator commands."""

from __future__ import annotations

import hashlib
import secrets


def hash_token(token: str) -> str:
    """The stored form of a bearer token (a long random token needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A new bearer token, shown once to whoever asked for it."""
    return "lf_" + secrets.token_urlsafe(24)
