"""The redirect service's own HTML pages: content, accessibility hooks and escaping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from linkhop.redirects.decision import GoneReason
from linkhop.redirects.pages import gone_page, inspect_page, not_found_page, password_page

HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"
HOSTILE_URL = 'https://evil.example/"><script>alert(3)</script>?a=1&b=<b>'


class _Tags(HTMLParser):
    """Collects start tags with their attributes, and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


PAGES: dict[str, Callable[[str], str]] = {
    "not_found": lambda value: not_found_page(short_url=value),
    "gone_expired": lambda value: gone_page(reason="expired", short_url=value),
    "gone_max_clicks": lambda value: gone_page(reason="max_clicks", short_url=value),
    "gone_archived": lambda value: gone_page(reason="archived", short_url=value),
    "password": lambda value: password_page(short_url=value, error=value),
    "inspect": lambda value: inspect_page(
        short_url=value, destination=value, created_at=datetime(2025, 1, 2, tzinfo=UTC), title=value
    ),
}


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("hostile", [HOSTILE, HOSTILE_URL])
def test_every_interpolated_value_is_escaped(name: str, hostile: str) -> None:
    page = PAGES[name](hostile)
    parsed = parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags
    assert "img" not in tags
    assert "b" not in tags
    assert hostile not in page
    assert all(not key.startswith("on") for _, attrs in parsed.tags for key in attrs)
    # The value is still shown to the reader, as text.
    assert hostile in "".join(parsed.text)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_self_contained_and_not_indexed(name: str) -> None:
    page = PAGES[name]("sho.rt/abc")
    parsed = parse(page)
    assert page.startswith("<!doctype html>")
    assert ("meta", {"name": "robots", "content": "noindex"}) in parsed.tags
    for tag, attrs in parsed.tags:
        assert tag not in {"script", "link", "iframe", "img"}
        assert "src" not in attrs
        assert not any(value and "javascript:" in value for value in attrs.values())


def test_inspect_page_shows_the_destination_as_text_never_as_a_link() -> None:
    page = inspect_page(
        short_url="https://sho.rt/abc",
        destination="https://example.com/landing?a=1&b=2",
        created_at=datetime(2025, 3, 4, 5, 6, tzinfo=UTC),
        title="Spring sale",
    )
    parsed = parse(page)
    text = "".join(parsed.text)
    assert "https://example.com/landing?a=1&b=2" in text
    assert "https://sho.rt/abc" in text
    assert "Spring sale" in text
    assert "2025-03-04 05:06 UTC" in text
    assert ("time", {"datetime": "2025-03-04T05:06:00+00:00"}) in parsed.tags
    assert not [attrs for tag, attrs in parsed.tags if tag == "a" or "href" in attrs]


def test_inspect_page_without_title_or_date() -> None:
    page = inspect_page(short_url="sho.rt/abc", destination="https://example.com/", created_at=None)
    assert "Created" not in page
    assert "Title" not in page


def test_inspect_page_reads_naive_dates_as_utc() -> None:
    page = inspect_page(
        short_url="sho.rt/a", destination="https://e.com/", created_at=datetime(2025, 3, 4, 5, 6)
    )
    assert "2025-03-04 05:06 UTC" in page


def test_password_page_form() -> None:
    parsed = parse(password_page(short_url="sho.rt/abc"))
    forms = [attrs for tag, attrs in parsed.tags if tag == "form"]
    assert forms == [{"method": "post"}]
    inputs = [attrs for tag, attrs in parsed.tags if tag == "input"]
    assert len(inputs) == 1
    field = inputs[0]
    assert field["type"] == "password"
    assert field["name"] == "password"
    assert field["autocomplete"] == "current-password"
    assert "required" in field
    labels = [attrs for tag, attrs in parsed.tags if tag == "label"]
    assert labels == [{"for": field["id"]}]
    assert not [attrs for tag, attrs in parsed.tags if attrs.get("role") == "alert"]


def test_password_page_shows_the_error() -> None:
    parsed = parse(password_page(short_url="sho.rt/abc", error="Wrong password."))
    alerts = [attrs for tag, attrs in parsed.tags if attrs.get("role") == "alert"]
    assert len(alerts) == 1
    field = next(attrs for tag, attrs in parsed.tags if tag == "input")
    assert field["aria-describedby"] == alerts[0]["id"]
    assert field["aria-invalid"] == "true"
    assert "Wrong password." in "".join(parsed.text)


@pytest.mark.parametrize(
    ("reason", "wording"),
    [
        ("expired", "This link has expired"),
        ("max_clicks", "This link has reached its limit"),
        ("archived", "This link is no longer active"),
    ],
)
def test_gone_page_wording(reason: GoneReason, wording: str) -> None:
    page = gone_page(reason=reason)
    assert f"<h1>{wording}</h1>" in page
    assert f"<title>{wording}</title>" in page


def test_not_found_page_without_a_short_url() -> None:
    page = not_found_page()
    assert "<h1>Link not found</h1>" in page
    assert "<code>" not in page
