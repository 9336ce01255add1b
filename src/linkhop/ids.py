"""Typed identifiers shared across domains, and their generators.

Ids are ``<prefix>_<26 Crockford base32 chars>``: 48 bits of millisecond time then 80 random bits
(ULID layout), so they sort by creation time, are unguessable, and say what they name when they
show up in a log or a support ticket.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from typing import NewType

OrgId = NewType("OrgId", str)
UserId = NewType("UserId", str)
LinkId = NewType("LinkId", str)
TagId = NewType("TagId", str)
ApiKeyId = NewType("ApiKeyId", str)
DomainId = NewType("DomainId", str)
SessionId = NewType("SessionId", str)

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _ulid_text(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``link_01jf3…``."""
    return f"{prefix}_{_ulid_text()}"


def new_org_id() -> OrgId:
    """A new organisation id."""
    return OrgId(new_id("org"))


def new_user_id() -> UserId:
    """A new user id."""
    return UserId(new_id("user"))


def new_link_id() -> LinkId:
    """A new link id."""
    return LinkId(new_id("link"))


def new_tag_id() -> TagId:
    """A new tag id."""
    return TagId(new_id("tag"))


def new_api_key_id() -> ApiKeyId:
    """A new API key record id."""
    return ApiKeyId(new_id("key"))


def new_domain_id() -> DomainId:
    """A new domain id."""
    return DomainId(new_id("dom"))


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7 (RFC 9562 §5.7): time-ordered, used as the click id."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = secrets.randbits(74)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # 12 bits rand_a
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 bits rand_b
    return uuid.UUID(int=value)


def uuid7_text(now_ms: int | None = None) -> str:
    """``str(uuid7())`` without building a UUID object: one urandom read and one format (the
    click id on the redirect hot path, where ``str(uuid7())`` measured ≈ 7 µs)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 are used
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
