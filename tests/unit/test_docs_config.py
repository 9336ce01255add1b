"""docs/configuration.md stays complete: a current table and guidance for every setting."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from linkhop.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG_DOC = DOCS / "configuration.md"
GENERATOR = DOCS / "gen_config.py"
_ENV_NAME = re.compile(r"\bLINKHOP_[A-Z0-9_]*[A-Z0-9]\b")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _env_names() -> list[str]:
    return [gen.env_var(name) for name in Settings.model_fields]


def _parts(text: str) -> tuple[str, str]:
    """(the generated block, everything written by hand around it)."""
    head, rest = text.split(gen.START)
    block, tail = rest.split(gen.END)
    return block, head + tail


def test_generated_table_is_current() -> None:
    document = CONFIG_DOC.read_text(encoding="utf-8")
    assert gen.splice(document, gen.settings_table()) == document, (
        "docs/configuration.md is stale: run `python docs/gen_config.py --write`"
    )


def test_every_setting_is_in_the_table() -> None:
    block, _ = _parts(CONFIG_DOC.read_text(encoding="utf-8"))
    missing = [env for env in _env_names() if f"`{env}`" not in block]
    assert missing == []


def test_every_setting_has_hand_written_guidance() -> None:
    _, prose = _parts(CONFIG_DOC.read_text(encoding="utf-8"))
    missing = [env for env in _env_names() if env not in prose]
    assert missing == [], (
        "say when to change these settings in the sections of docs/configuration.md "
        f"(outside the generated table): {missing}"
    )


def test_every_setting_has_a_description() -> None:
    undocumented = [
        n for n, f in Settings.model_fields.items() if not (f.description or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("doc", sorted(DOCS.rglob("*.md")), ids=lambda p: p.name)
def test_docs_name_only_real_settings(doc: Path) -> None:
    known = set(_env_names())
    named = set(_ENV_NAME.findall(doc.read_text(encoding="utf-8")))
    assert named - known == set(), f"{doc.name} names settings that do not exist"


def test_table_has_one_row_per_setting_in_declaration_order() -> None:
    rows = [line for line in gen.settings_table().splitlines()[2:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == _env_names()


def test_table_cells_render_types_defaults_and_bounds() -> None:
    rows = {row.split("`")[1]: row for row in gen.settings_table().splitlines()[2:]}
    assert "| int | `8080` | ≥ 0, ≤ 65535 |" in rows["LINKHOP_PORT"]
    assert "| one of `full`, `anonymized`, `none` | `anonymized` |" in rows["LINKHOP_STORE_IP"]
    assert "| string, optional | unset |" in rows["LINKHOP_DATABASE_URL"]
    assert "| list of string (JSON) | `[]` |" in rows["LINKHOP_RESERVED_KEYS"]
    assert "| bool | `true` |" in rows["LINKHOP_AUTO_MIGRATE"]


def test_splice_replaces_only_the_block() -> None:
    document = f"intro\n{gen.START}\nold table\n{gen.END}\noutro\n"
    assert gen.splice(document, "NEW") == f"intro\n{gen.START}\nNEW\n{gen.END}\noutro\n"


@pytest.mark.parametrize(
    "document",
    ["no markers at all", f"{gen.END}\nbackwards\n{gen.START}", f"{gen.START}{gen.START}{gen.END}"],
)
def test_splice_refuses_documents_without_one_ordered_pair_of_markers(document: str) -> None:
    with pytest.raises(ValueError, match="settings:"):
        gen.splice(document, "table")


def test_check_command_flags_a_stale_copy_and_write_repairs_it(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    current = CONFIG_DOC.read_text(encoding="utf-8")
    stale.write_text(gen.splice(current, "| stale |"), encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(GENERATOR), *args, "--doc", str(stale)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )

    checked = run("--check")
    assert checked.returncode == 1
    assert "stale" in checked.stderr
    assert run("--write").returncode == 0
    assert stale.read_text(encoding="utf-8") == current
    assert run("--check").returncode == 0
