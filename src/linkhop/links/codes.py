"""Random short keys.

The collision math: a key of ``length`` characters drawn uniformly from an alphabet of ``A``
distinct characters has ``A ** length`` possible values (:func:`key_space`). With ``n`` keys
already taken on a domain, one fresh draw hits a taken key with probability ``n / A**length``
(:func:`collision_probability`), and ``k`` independent draws all hit with that value to the
power ``k``. The default 33-character alphabet at length 7 gives 33**7 ≈ 4.3e10 keys: with a
million links on a domain a draw collides about 2.3e-5 of the time, and five draws in a row
essentially never (≈ 7e-24).

This module only draws. Uniqueness under concurrency is NOT decided here: two processes may
draw the same key at the same instant, so the database's unique index on (domain, key lookup
form) is the arbiter and the caller retries with a fresh draw on a conflict. The birthday bound
(some pair among ``n`` keys colliding) does not matter for that scheme: only the chance that
one new draw hits an existing key does.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from typing import Protocol


class ChoiceSource(Protocol):
    """Anything with ``choice``: ``secrets.SystemRandom()`` in production, a seeded RNG in tests."""

    def choice(self, seq: Sequence[str], /) -> str:
        """Pick one element."""
        ...


# One shared CSPRNG: short keys must be unguessable, so a seeded Mersenne Twister is never used.
_SYSTEM_RANDOM = secrets.SystemRandom()


def _check_alphabet(alphabet: str) -> None:
    if len(alphabet) < 2:
        raise ValueError("a key alphabet needs at least two characters")
    # A repeated character would be drawn twice as often and shrink the effective key space.
    if len(set(alphabet)) != len(alphabet):
        raise ValueError("a key alphabet may not repeat characters")


def random_key(length: int, alphabet: str, rng: ChoiceSource = _SYSTEM_RANDOM) -> str:
    """Draw a key of ``length`` characters uniformly from ``alphabet``."""
    if length < 1:
        raise ValueError("a key must be at least one character long")
    _check_alphabet(alphabet)
    return "".join(rng.choice(alphabet) for _ in range(length))


def random_keys(
    count: int, length: int, alphabet: str, randbytes: Callable[[int], bytes] = os.urandom
) -> list[str]:
    """``count`` keys drawn like ``random_key``, from a few large reads of the CSPRNG.

    ``random_key`` reads the system CSPRNG once per character (a system call each); a bulk
    create needs thousands of keys. Each random byte below the largest multiple of the alphabet
    size maps to one character (rejection sampling, so every character stays equally likely);
    bytes above it are dropped.
    """
    if length < 1:
        raise ValueError("a key must be at least one character long")
    _check_alphabet(alphabet)
    size = len(alphabet)
    if size > 256:
        return [random_key(length, alphabet) for _ in range(count)]
    limit = 256 - 256 % size
    need = count * length
    chars: list[str] = []
    while len(chars) < need:
        # Ask for a little more than needed: on average limit/256 of the bytes are kept.
        missing = need - len(chars)
        chars.extend(
            alphabet[b % size] for b in randbytes(missing + missing // 4 + 16) if b < limit
        )
    return ["".join(chars[i : i + length]) for i in range(0, need, length)]


def key_space(length: int, alphabet: str) -> int:
    """How many distinct keys ``random_key(length, alphabet)`` can return."""
    if length < 0:
        raise ValueError("a key length cannot be negative")
    _check_alphabet(alphabet)
    space: int = len(alphabet) ** length  # annotated: int ** int is typed Any (negative powers)
    return space


def collision_probability(existing: int, *, length: int, alphabet: str) -> float:
    """Chance that one fresh draw equals one of ``existing`` keys already taken."""
    if existing < 0:
        raise ValueError("the number of existing keys cannot be negative")
    return min(1.0, existing / key_space(length, alphabet))
