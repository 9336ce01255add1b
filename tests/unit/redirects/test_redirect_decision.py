"""The redirect decision: order, statuses, caching, query forwarding and QR triggers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from linkhop.redirects.decision import (
    Decision,
    ExpiredRedirect,
    GonePage,
    InspectPage,
    LinkRecord,
    NotFoundPage,
    PasswordPage,
    Redirect,
    RedirectRequest,
    decide_redirect,
    split_inspect_suffix,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LINK = LinkRecord(
    id="link_1",
    org_id="org_1",
    domain="sho.rt",
    key="abc",
    url="https://example.com/landing?ref=link",
    expires_at=None,
    expired_url=None,
    max_clicks=None,
    clicks=0,
    password_hash=None,
    archived=False,
    redirect_status=302,
    forward_query=True,
)
REQUEST = RedirectRequest(
    method="GET",
    key="abc",
    is_inspect=False,
    query="",
    unlocked=False,
    user_agent="Mozilla/5.0",
    now=NOW,
)
PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def decide(
    link: LinkRecord | None = LINK,
    *,
    max_age: int = 30,
    query: str = "",
    is_inspect: bool = False,
    unlocked: bool = False,
    now: datetime = NOW,
) -> Decision:
    request = replace(REQUEST, query=query, is_inspect=is_inspect, unlocked=unlocked, now=now)
    return decide_redirect(link, request, permanent_max_age=max_age)


def test_default_is_a_302_without_cache_headers_that_records_a_click() -> None:
    assert decide() == Redirect(
        location="https://example.com/landing?ref=link",
        status=302,
        cache_control=None,
        trigger="link",
        record_click=True,
    )


def test_unknown_key_is_not_found() -> None:
    assert decide(None) == NotFoundPage()


@pytest.mark.parametrize(
    ("status", "cache_control"),
    [(301, "private, max-age=90"), (308, "private, max-age=90"), (302, None), (307, None)],
)
def test_only_permanent_redirects_get_a_short_private_cache(
    status: int, cache_control: str | None
) -> None:
    decision = decide(replace(LINK, redirect_status=status), max_age=90)
    assert isinstance(decision, Redirect)
    assert decision.status == status
    assert decision.cache_control == cache_control


def test_link_records_refuse_other_statuses() -> None:
    with pytest.raises(ValueError, match="301, 302, 307 or 308"):
        replace(LINK, redirect_status=303)


def test_inspect_shows_the_inspect_page_without_a_click() -> None:
    assert decide(is_inspect=True) == InspectPage(LINK)


def test_password_link_requested_with_plus_shows_the_password_page() -> None:
    link = replace(LINK, password_hash=PASSWORD)
    assert decide(link, is_inspect=True) == PasswordPage(link)
    assert decide(link, is_inspect=True, unlocked=True) == InspectPage(link)


def test_password_link_asks_for_the_password_until_unlocked() -> None:
    link = replace(LINK, password_hash=PASSWORD)
    assert decide(link) == PasswordPage(link, error=None)
    decision = decide(link, unlocked=True)
    assert isinstance(decision, Redirect)
    assert decision.record_click


def test_empty_password_hash_does_not_lock_the_link() -> None:
    assert isinstance(decide(replace(LINK, password_hash="")), Redirect)


def test_password_comes_before_expiry() -> None:
    link = replace(LINK, password_hash=PASSWORD, expires_at=NOW - timedelta(days=1))
    assert decide(link) == PasswordPage(link)
    assert decide(link, unlocked=True) == GonePage("expired")


def test_password_comes_before_archived() -> None:
    link = replace(LINK, password_hash=PASSWORD, archived=True)
    assert decide(link) == PasswordPage(link)
    assert decide(link, unlocked=True) == GonePage("archived")


def test_archived_link_is_gone_even_when_inspected_or_with_an_expired_url() -> None:
    link = replace(LINK, archived=True, expired_url="https://example.com/over")
    assert decide(link) == GonePage("archived")
    assert decide(link, is_inspect=True) == GonePage("archived")


def test_expired_link_without_expired_url_is_gone() -> None:
    link = replace(LINK, expires_at=NOW)
    assert decide(link) == GonePage("expired")
    assert isinstance(decide(replace(LINK, expires_at=NOW + timedelta(seconds=1))), Redirect)


def test_expired_link_with_expired_url_redirects_there() -> None:
    link = replace(
        LINK, expires_at=NOW - timedelta(minutes=1), expired_url="https://example.com/over"
    )
    assert decide(link, query="a=1&qr=1") == ExpiredRedirect(
        location="https://example.com/over", reason="expired"
    )


def test_expired_link_can_still_be_inspected() -> None:
    link = replace(LINK, expires_at=NOW - timedelta(days=1))
    assert decide(link, is_inspect=True) == InspectPage(link)


def test_naive_timestamps_are_read_as_utc() -> None:
    naive_past = (NOW - timedelta(hours=1)).replace(tzinfo=None)
    assert decide(replace(LINK, expires_at=naive_past)) == GonePage("expired")
    assert decide(replace(LINK, expires_at=NOW + timedelta(hours=1)), now=NOW.replace(tzinfo=None))


def test_click_limit() -> None:
    assert isinstance(decide(replace(LINK, max_clicks=10, clicks=9)), Redirect)
    assert decide(replace(LINK, max_clicks=10, clicks=10)) == GonePage("max_clicks")
    assert decide(replace(LINK, max_clicks=10, clicks=12)) == GonePage("max_clicks")
    assert decide(
        replace(LINK, max_clicks=10, clicks=10, expired_url="https://example.com/full")
    ) == ExpiredRedirect(location="https://example.com/full", reason="max_clicks")


def test_expiry_is_reported_before_the_click_limit() -> None:
    link = replace(LINK, max_clicks=1, clicks=5, expires_at=NOW - timedelta(days=1))
    assert decide(link) == GonePage("expired")


def test_query_is_forwarded_with_incoming_values_winning() -> None:
    decision = decide(query="ref=visitor&x=1")
    assert isinstance(decision, Redirect)
    assert decision.location == "https://example.com/landing?ref=visitor&x=1"


def test_query_is_not_forwarded_when_the_link_opts_out() -> None:
    decision = decide(replace(LINK, forward_query=False), query="ref=visitor&qr=1")
    assert isinstance(decision, Redirect)
    assert decision.location == LINK.url
    assert decision.trigger == "qr"


@pytest.mark.parametrize(
    ("query", "trigger", "location"),
    [
        ("qr=1", "qr", "https://example.com/landing?ref=link"),
        ("x=2&qr=1", "qr", "https://example.com/landing?ref=link&x=2"),
        ("qr=0", "link", "https://example.com/landing?ref=link"),
        ("qr", "link", "https://example.com/landing?ref=link"),
        ("QR=1", "link", "https://example.com/landing?ref=link&QR=1"),
    ],
)
def test_qr_param_sets_the_trigger_and_is_stripped(query: str, trigger: str, location: str) -> None:
    decision = decide(query=query)
    assert isinstance(decision, Redirect)
    assert decision.trigger == trigger
    assert decision.location == location


@pytest.mark.parametrize(
    ("requested", "key", "inspect"),
    [("abc+", "abc", True), ("abc", "abc", False), ("+", "+", False), ("a++", "a+", True)],
)
def test_split_inspect_suffix(requested: str, key: str, inspect: bool) -> None:
    assert split_inspect_suffix(requested) == (key, inspect)
