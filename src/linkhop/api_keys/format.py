"""The API key format (reliability.md §6.4): ``lnk_<env>_<key id:8><secret:32><crc32:6>``.

- the ``lnk_`` prefix makes leaked keys easy for secret scanners to recognise;
- 32 base62 characters carry ≈190 bits, so a plain SHA-256 at rest is safe (no KDF needed);
- the CRC32 checksum lets us refuse typos and scanner false positives before any database hit;
- only ``_`` separators, so a double-click selects the whole key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_ID_LEN = 8
SECRET_LEN = 32
CHECKSUM_LEN = 6
_PATTERN = re.compile(r"^lnk_(live|test)_([0-9A-Za-z]{8})([0-9A-Za-z]{32})([0-9A-Za-z]{6})$")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """The parts of a well-formed key."""

    env: str
    key_id: str
    full: str


def _b62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars))


def _random_b62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    return _b62(zlib.crc32(body.encode()), CHECKSUM_LEN)


def generate(env: str) -> ParsedKey:
    """A fresh key."""
    body = f"lnk_{env}_{_random_b62(KEY_ID_LEN)}{_random_b62(SECRET_LEN)}"
    full = body + _checksum(body)
    return ParsedKey(env=env, key_id=full[9 : 9 + KEY_ID_LEN], full=full)


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of a key (its checksum is not checked)."""
    return _PATTERN.match(token) is not None


def parse(token: str) -> ParsedKey | None:
    """The parts of ``token``, or None when it is malformed or its checksum is wrong."""
    match = _PATTERN.match(token)
    if match is None:
        return None
    env, key_id, secret, checksum = match.groups()
    if not secrets.compare_digest(_checksum(f"lnk_{env}_{key_id}{secret}"), checksum):
        return None
    return ParsedKey(env=env, key_id=key_id, full=token)


def secret_hash(token: str) -> str:
    """What is stored: SHA-256 of the whole key."""
    return hashlib.sha256(token.encode()).hexdigest()


def display(parsed: ParsedKey) -> str:
    """The recognisable, non-secret form shown in lists (``lnk_live_AbCd1234…``)."""
    return f"lnk_{parsed.env}_{parsed.key_id}…"
