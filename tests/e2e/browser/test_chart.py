"""The analytics chart's axes: hours for 24 hours, dates for 90 days, months for 12 months,
all in the chosen time zone; whole click counts on the y axis; the tooltip names the bucket."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, first_run, poll
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"


def ticks(page: Page, axis: str) -> list[tuple[int, str]]:
    """The (Unix seconds, label) pairs the chart's axis was last drawn with."""
    chart = page.locator("#timeseries-chart[data-chart-ready=true]")
    expect(chart).to_have_count(1)
    raw = chart.get_attribute(f"data-{axis}-ticks")
    assert raw, f"no {axis} ticks"
    return [(int(v), str(label)) for v, label in json.loads(raw)]


def open_chart(page: Page, base: str, interval: str, tz: str) -> list[tuple[int, str]]:
    page.goto(f"{base}/app/analytics?interval={interval}&tz={tz}")
    expect(page.get_by_test_id("total-clicks")).to_have_attribute("data-value", "3")
    return ticks(page, "x")


def test_chart_axes_read_well_for_each_period(served: Server, page: Page, console: Console) -> None:
    first_run(page, served)
    short = create_link(page, served.base, "https://example.com/", key="chart")
    for _ in range(3):
        response = httpx.get(short, headers={"User-Agent": BROWSER_UA}, timeout=10)
        assert response.status_code in (301, 302, 307, 308)
    page.goto(f"{served.base}/app/analytics?interval=24h&tz=UTC")
    total = page.get_by_test_id("total-clicks")
    poll(page, lambda: total.get_attribute("data-value", timeout=2000) == "3")

    # 24 hours in Kolkata (UTC+5:30): ticks on whole local hours, labelled with that hour;
    # the first tick of each day also names the day.
    kolkata = ZoneInfo("Asia/Kolkata")
    hours = open_chart(page, served.base, "24h", "Asia/Kolkata")
    assert len(hours) >= 3, hours
    for ts, label in hours:
        local = datetime.fromtimestamp(ts, kolkata)
        first_line = label.split("\n")[0]
        assert re.fullmatch(r"\d\d:00", first_line), label
        assert first_line == local.strftime("%H:%M"), (ts, label)
    assert re.fullmatch(rf"\d\d:00\n({MONTHS}) \d{{1,2}}", hours[0][1]), hours[0]
    # Whole click counts on the y axis, and the top one reaches the busiest hour.
    counts = ticks(page, "y")
    assert all(re.fullmatch(r"\d+", label) for _, label in counts if label), counts
    assert max(int(label) for _, label in counts if label) >= 3

    # Hovering a bar tells its hour and its numbers.
    chart = page.locator("#timeseries-chart .u-over")
    box = chart.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    tooltip = page.locator(".chart-tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(re.compile(rf"({MONTHS}) \d{{1,2}}, \d\d:\d\d"))
    expect(tooltip).to_contain_text("Clicks: 3")

    # 90 days in New York: one label per date ("Mar 4") at local midnight, never an hour.
    new_york = ZoneInfo("America/New_York")
    days = open_chart(page, served.base, "90d", "America/New_York")
    assert len(days) >= 3, days
    for ts, label in days:
        local = datetime.fromtimestamp(ts, new_york)
        assert (local.hour, local.minute) == (0, 0), (ts, label)
        assert label.split("\n")[0] == f"{local:%b} {local.day}", (ts, label)
    assert not any(":" in label for _, label in days), days

    # 12 months: the first of each month, labelled with the month (and the year once).
    months = open_chart(page, served.base, "1y", "Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    assert len(months) >= 3, months
    for ts, label in months:
        local = datetime.fromtimestamp(ts, paris)
        assert (local.day, local.hour) == (1, 0), (ts, label)
        assert label.split("\n")[0] == f"{local:%b}", (ts, label)
    assert re.fullmatch(rf"({MONTHS})\n\d{{4}}", months[0][1]), months[0]
    console.assert_clean()
