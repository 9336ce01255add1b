"""Custom key rules and the lookup form of keys."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from linkhop.errors import Invalid
from linkhop.links.keys import BUILTIN_RESERVED_KEYS, normalize_key, validate_custom_key

NONE: frozenset[str] = frozenset()


def validate(key: str, *, max_length: int = 190, reserved: frozenset[str] = NONE) -> str:
    return validate_custom_key(key, max_length=max_length, reserved=reserved)


def test_normalize_lowercases_only_when_case_insensitive() -> None:
    assert normalize_key("SummerSale", case_sensitive=False) == "summersale"
    assert normalize_key("SummerSale", case_sensitive=True) == "SummerSale"


def test_normalize_merges_composed_and_decomposed_forms() -> None:
    decomposed = "cafe\u0301"
    assert normalize_key(decomposed, case_sensitive=True) == "caf\u00e9"
    assert normalize_key("CAFE\u0301", case_sensitive=False) == "caf\u00e9"


def test_normalize_keeps_sharp_s_apart_from_ss() -> None:
    assert normalize_key("Straße", case_sensitive=False) != normalize_key(
        "strasse", case_sensitive=False
    )


@given(st.text(), st.booleans())
def test_normalize_is_idempotent_and_nfc(key: str, case_sensitive: bool) -> None:
    once = normalize_key(key, case_sensitive=case_sensitive)
    assert normalize_key(once, case_sensitive=case_sensitive) == once
    assert unicodedata.is_normalized("NFC", once)


@given(st.text())
def test_case_insensitive_lookup_ignores_case(key: str) -> None:
    # Some characters do not survive upper() (e.g. "ß" becomes "SS"); those are not case variants.
    assume(key.upper().lower() == key.lower())
    assert normalize_key(key.upper(), case_sensitive=False) == normalize_key(
        key, case_sensitive=False
    )


@pytest.mark.parametrize(
    "key",
    ["abc", "Summer-Sale_2024", "v1.2", "a~b", "café", "日本語", "привет", "ß", "x" * 190, "a.b.c"],
)
def test_accepts_iri_friendly_keys(key: str) -> None:
    assert validate(key) == key


def test_returns_the_nfc_form_with_case_kept() -> None:
    assert validate("Cafe\u0301") == "Caf\u00e9"


@pytest.mark.parametrize(
    ("key", "code", "fragment"),
    [
        ("", "key_empty", "empty"),
        ("a/b", "key_slash", "'/'"),
        ("/abc", "key_slash", "single path segment"),
        ("abc/", "key_slash", "'/'"),
        ("a\x00b", "key_control_character", "U+0000"),
        ("a\tb", "key_control_character", "U+0009"),
        ("a\nb", "key_control_character", "U+000A"),
        ("a\x7fb", "key_control_character", "U+007F"),
        ("a\u202eb", "key_invisible_character", "U+202E"),
        ("a\u200bb", "key_invisible_character", "U+200B"),
        ("a b", "key_whitespace", "whitespace"),
        ("a\u00a0b", "key_whitespace", "whitespace"),
        ("a\u3000b", "key_whitespace", "whitespace"),
        ("abc+", "key_trailing_plus", "inspect page"),
        ("+", "key_trailing_plus", "'+'"),
        ("a+b", "key_invalid_character", "'+'"),
        ("a?b", "key_reserved_character", "query"),
        ("a#b", "key_reserved_character", "fragment"),
        ("a%41", "key_reserved_character", "percent-escape"),
        ("a\\b", "key_reserved_character", "'/'"),
        (".", "key_dot_segment", "relative path segment"),
        ("..", "key_dot_segment", "relative path segment"),
        (".abc", "key_dot_edge", "'.'"),
        ("abc.", "key_dot_edge", "'.'"),
        ("a!b", "key_invalid_character", "'!'"),
        ("a@b", "key_invalid_character", "'@'"),
        ("a:b", "key_invalid_character", "':'"),
        ("hi\U0001f600", "key_invalid_character", "letters, digits"),
        ("_internal", "key_reserved", "internal use"),
        ("api", "key_reserved", "reserved"),
        ("API", "key_reserved", "reserved"),
        ("Robots.TXT", "key_reserved", "reserved"),
        ("openapi.json", "key_reserved", "reserved"),
        ("qr", "key_reserved", "reserved"),
        ("s", "key_reserved", "reserved"),
    ],
)
def test_refuses_with_a_stable_code_and_a_precise_message(
    key: str, code: str, fragment: str
) -> None:
    with pytest.raises(Invalid) as caught:
        validate(key)
    assert caught.value.code == code
    assert caught.value.field == "key"
    assert fragment in caught.value.detail


def test_refuses_keys_over_the_limit() -> None:
    assert validate("x" * 20, max_length=20) == "x" * 20
    with pytest.raises(Invalid) as caught:
        validate("x" * 21, max_length=20)
    assert caught.value.code == "key_too_long"
    assert "21" in caught.value.detail
    assert "20" in caught.value.detail


def test_length_counts_the_nfc_form() -> None:
    assert validate("e\u0301" * 5, max_length=5) == "\u00e9" * 5


def test_every_builtin_reserved_key_is_refused_in_any_case() -> None:
    assert {
        "api",
        "healthz",
        "metrics",
        ".well-known",
        "favicon.ico",
        "setup",
    } <= BUILTIN_RESERVED_KEYS
    for reserved in BUILTIN_RESERVED_KEYS:
        for variant in (reserved, reserved.upper(), reserved.title()):
            with pytest.raises(Invalid):
                validate(variant)


def test_configured_reserved_keys_match_case_insensitively() -> None:
    extra = frozenset({"Pricing", "ÉTÉ"})
    for key in ("pricing", "PRICING", "été", "E\u0301te\u0301"):
        with pytest.raises(Invalid) as caught:
            validate(key, reserved=extra)
        assert caught.value.code == "key_reserved"
    assert validate("pricing-2024", reserved=extra) == "pricing-2024"


@given(st.text(min_size=1, max_size=40, alphabet=st.characters(categories=["L", "N"])))
def test_letters_and_digits_are_accepted(key: str) -> None:
    lookup = normalize_key(key, case_sensitive=False)
    assume(lookup not in BUILTIN_RESERVED_KEYS)
    assert validate(key, max_length=1000) == unicodedata.normalize("NFC", key)


def _outcome(key: str) -> str | Invalid:
    try:
        return validate(key)
    except Invalid as refusal:
        return refusal


@given(st.text(max_size=60))
def test_any_text_is_either_accepted_cleanly_or_refused_with_invalid(key: str) -> None:
    accepted = _outcome(key)
    if isinstance(accepted, Invalid):
        assert accepted.code.startswith("key_")
        assert accepted.detail
        return
    assert accepted
    assert not set(accepted) & set("/?#%\\ +")
    assert not accepted.startswith((".", "_"))
    assert not accepted.endswith(".")
    assert all(unicodedata.category(ch)[0] in "LMN" or ch in "-_.~" for ch in accepted)
