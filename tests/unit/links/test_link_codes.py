"""Random short keys and the collision math."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.links.codes import collision_probability, key_space, random_key, random_keys

DEFAULT_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"


@given(
    length=st.integers(min_value=1, max_value=64),
    alphabet=st.sets(st.characters(codec="ascii", categories=["L", "N"]), min_size=2).map("".join),
)
def test_random_key_has_the_length_and_only_alphabet_characters(length: int, alphabet: str) -> None:
    key = random_key(length, alphabet)
    assert len(key) == length
    assert set(key) <= set(alphabet)


def test_random_key_is_reproducible_with_a_seeded_source() -> None:
    assert random_key(12, DEFAULT_ALPHABET, random.Random(7)) == random_key(
        12, DEFAULT_ALPHABET, random.Random(7)
    )


def test_random_key_draws_every_character_evenly() -> None:
    drawn = Counter(random_key(40_000, "abcd", random.Random(1)))
    assert set(drawn) == set("abcd")
    # Each of four characters should take about a quarter; a 23 to 27 percent band is over nine
    # standard deviations wide, so a correct draw never fails it.
    assert all(9_200 < count < 10_800 for count in drawn.values())


def test_default_source_is_unpredictable() -> None:
    keys = {random_key(16, DEFAULT_ALPHABET) for _ in range(50)}
    assert len(keys) == 50


@pytest.mark.parametrize(
    ("length", "alphabet", "message"),
    [
        (0, DEFAULT_ALPHABET, "at least one character"),
        (-3, DEFAULT_ALPHABET, "at least one character"),
        (7, "a", "at least two characters"),
        (7, "", "at least two characters"),
        (7, "abca", "may not repeat"),
    ],
)
def test_random_key_refuses_bad_parameters(length: int, alphabet: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        random_key(length, alphabet)


def test_key_space_is_alphabet_size_to_the_length() -> None:
    assert key_space(7, DEFAULT_ALPHABET) == 33**7 == 42_618_442_977
    assert key_space(1, "ab") == 2
    assert key_space(0, "ab") == 1
    with pytest.raises(ValueError, match="negative"):
        key_space(-1, "ab")
    with pytest.raises(ValueError, match="repeat"):
        key_space(4, "aa")


def test_collision_probability_matches_the_documented_figures() -> None:
    p = collision_probability(1_000_000, length=7, alphabet=DEFAULT_ALPHABET)
    assert p == pytest.approx(2.3464e-5, rel=1e-3)
    assert p**5 == pytest.approx(7.1e-24, rel=1e-2)
    assert collision_probability(0, length=7, alphabet=DEFAULT_ALPHABET) == 0.0
    assert collision_probability(10, length=2, alphabet="ab") == 1.0
    with pytest.raises(ValueError, match="negative"):
        collision_probability(-1, length=7, alphabet=DEFAULT_ALPHABET)


@given(
    count=st.integers(min_value=0, max_value=50),
    length=st.integers(min_value=1, max_value=16),
    alphabet=st.sets(st.characters(codec="ascii", categories=["L", "N"]), min_size=2).map("".join),
)
def test_random_keys_have_the_length_and_only_alphabet_characters(
    count: int, length: int, alphabet: str
) -> None:
    keys = random_keys(count, length, alphabet)
    assert len(keys) == count
    assert all(len(k) == length and set(k) <= set(alphabet) for k in keys)


def test_random_keys_drop_bytes_that_would_bias_the_draw() -> None:
    # 33 characters: 256 % 33 = 25, so bytes 231-255 would make the first 25 characters more
    # likely; they must be skipped, not folded onto the alphabet.
    stream = iter([255, 231, 0, 32, 230, 33] * 10)
    keys = random_keys(2, 2, DEFAULT_ALPHABET, lambda n: bytes(next(stream) for _ in range(n)))
    a = DEFAULT_ALPHABET
    assert keys == [a[0] + a[32], a[230 % 33] + a[0]]


def test_random_keys_are_uniform_enough() -> None:
    counts = Counter("".join(random_keys(3000, 11, DEFAULT_ALPHABET)))
    expected = 3000 * 11 / len(DEFAULT_ALPHABET)
    assert set(counts) == set(DEFAULT_ALPHABET)
    assert all(abs(n - expected) < expected * 0.2 for n in counts.values())
