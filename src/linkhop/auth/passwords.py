"""Password hashing with Argon2id (OWASP's first choice), parameters from argon2-cffi's RFC 9106
low-memory profile."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from linkhop.errors import Invalid

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def validate_password(password: str, *, field: str = "password") -> None:
    """Refuse passwords that are too short or absurdly long (ASVS 6.2.1: at least 8; we ask 10)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters",
            field=field,
            code="password_too_short",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters",
            field=field,
            code="password_too_long",
        )


def hash_password(password: str) -> str:
    """An Argon2id hash string with its own salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; a malformed stored hash counts as no match."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verifying against this when the user does not exist keeps the timing of "no such user" and
# "wrong password" alike (no account enumeration by latency).
DUMMY_HASH = _hasher.hash("linkhop-dummy-password")


async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread: Argon2 takes ~0.1–0.5 s of CPU, which must not
    stall the event loop that also serves redirects in ``linkhop serve``."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    """``verify_password`` in a worker thread (see ``hash_password_async``)."""
    return await asyncio.to_thread(verify_password, password_hash, password)
