"""Password hashes: argon2id (argon2-cffi), shared by the API and the operator commands."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, the library's current defaults (RFC 9106 low-memory profile)
_DUMMY = _hasher.hash("leadflow: no such user")  # verified against for an unknown user: same time either way

MIN_LENGTH = 10
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches; an unknown user (`stored` None) takes as long as a known one."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
