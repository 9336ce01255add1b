"""``linkhop links import FILE``: CSV rows through the bulk service, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from linkhop.apps.admin import import_links
from linkhop.cli import app
from linkhop.errors import Invalid
from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio

CSV = """url,key,title,tags,redirect_status,max_clicks
https://example.com/a,spring,Spring sale,sale|news,301,
https://example.com/b,,,,,5
javascript:alert(1),,,,,
https://example.com/c,SPRING,,,,
"""


async def listed(h: Harness, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The org's links by key."""
    data = (await h.client.get("/api/v1/links?limit=100", headers=auth)).json()["data"]
    return {x["key"]: x for x in data}


async def test_rows_are_created_or_refused_with_their_line(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    result = await import_links(harness.runtime.settings, text=CSV, org=None, all_or_nothing=False)
    assert [line for line, _, _ in result.created] == [2, 3]
    assert result.created[0][1:] == ("http://lh.test/spring", "https://example.com/a")
    assert [line for line, _ in result.refused] == [4, 5]
    assert result.refused[0][1].startswith("url_scheme_not_allowed:")
    assert result.refused[1][1].startswith("key_taken:")
    links = await listed(harness, ada.auth)
    spring = links["spring"]
    assert spring["title"] == "Spring sale" and spring["redirect_status"] == 301
    assert sorted(t["name"] for t in spring["tags"]) == ["news", "sale"]
    other = next(v for k, v in links.items() if k != "spring")
    assert other["max_clicks"] == 5


async def test_all_or_nothing_creates_nothing(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    result = await import_links(harness.runtime.settings, text=CSV, org=None, all_or_nothing=True)
    assert result.created == [] and [line for line, _ in result.refused] == [4, 5]
    assert await listed(harness, ada.auth) == {}


async def test_unknown_columns_are_refused_up_front(harness: Harness) -> None:
    await harness.account("ada@example.com")
    with pytest.raises(Invalid, match="password"):
        await import_links(
            harness.runtime.settings,
            text="url,password\nhttps://e.com,x\n",
            org=None,
            all_or_nothing=False,
        )
    with pytest.raises(Invalid, match="'url'"):
        await import_links(
            harness.runtime.settings, text="link\nhttps://e.com\n", org=None, all_or_nothing=False
        )


async def test_the_command(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await harness.account("ada@example.com")
    settings = harness.runtime.settings
    monkeypatch.setenv("LINKHOP_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("LINKHOP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LINKHOP_DEFAULT_DOMAIN", settings.default_domain)
    file = tmp_path / "links.csv"
    file.write_text(
        "\ufeffurl,key\nhttps://example.com/x,cli-made\nftp://nope,\n", encoding="utf-8"
    )
    # The command runs its own event loop: invoke it from a thread, as a shell would.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["links", "import", str(file)])
    assert result.exit_code == 1, result.output
    assert "2\thttp://lh.test/cli-made\thttps://example.com/x" in result.stdout
    assert "line 3: url_scheme_not_allowed" in result.stderr
    assert "1 created, 1 refused" in result.stderr
    assert set(await listed(harness, ada.auth)) == {"cli-made"}
    missing = await asyncio.to_thread(
        CliRunner().invoke, app, ["links", "import", str(tmp_path / "nope.csv")]
    )
    assert missing.exit_code == 2
