"""Per-link unlock tokens set as a cookie after a correct password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from linkhop.redirects.decision import check_unlock_token, password_unlock_token

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "s" * 40
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
DAY = timedelta(days=1)


def check(
    token: str,
    *,
    link_id: str = "link_1",
    password_hash: str = HASH,
    secret: str = SECRET,
    now: datetime = NOW,
) -> bool:
    return check_unlock_token(
        token, link_id=link_id, password_hash=password_hash, secret=secret, now=now, max_age=DAY
    )


TOKEN = password_unlock_token("link_1", HASH, SECRET, now=NOW)


def test_a_fresh_token_unlocks_its_link() -> None:
    assert check(TOKEN)
    assert check(TOKEN, now=NOW + DAY)
    assert check(password_unlock_token("link_1", HASH, SECRET.encode(), now=NOW))


def test_token_is_cookie_safe() -> None:
    assert TOKEN.isascii()
    assert not set(TOKEN) & set(' ;,"\\=')


def test_token_does_not_unlock_another_link() -> None:
    assert not check(TOKEN, link_id="link_2")


def test_changing_the_password_voids_the_token() -> None:
    assert not check(TOKEN, password_hash=HASH + "x")


def test_token_from_another_secret_is_refused() -> None:
    assert not check(TOKEN, secret="t" * 40)


def test_old_token_expires() -> None:
    assert not check(TOKEN, now=NOW + DAY + timedelta(seconds=1))


def test_token_from_the_future_is_refused() -> None:
    assert check(TOKEN, now=NOW - timedelta(minutes=4))
    assert not check(TOKEN, now=NOW - timedelta(hours=1))


def test_tampered_timestamp_is_refused() -> None:
    issued, _, mac = TOKEN.partition(".")
    assert not check(f"{int(issued) + 3600}.{mac}", now=NOW + DAY)


@given(st.text(max_size=80))
def test_garbage_never_unlocks_and_never_raises(token: str) -> None:
    assert not check(token)
