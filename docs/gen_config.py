"""Generate the settings table of ``docs/configuration.md`` from ``Settings.model_fields``.

The table sits between ``<!-- settings:start -->`` and ``<!-- settings:end -->``; everything
around it is written by hand. ``tests/unit/test_docs_config.py`` fails when the table is stale.

    python docs/gen_config.py            # print the table
    python docs/gen_config.py --write    # rewrite the table inside docs/configuration.md
    python docs/gen_config.py --check    # exit 1 when docs/configuration.md is stale
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from linkhop.settings import Settings

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
DOC = Path(__file__).with_name("configuration.md")
_NAMES = {bool: "bool", int: "int", float: "float", str: "string", Path: "path"}


def env_var(name: str) -> str:
    """The environment variable that sets the field ``name``."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def _type_name(annotation: object) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        present = [a for a in args if a is not type(None)]
        name = " or ".join(_type_name(a) for a in present)
        return f"{name}, optional" if len(present) < len(args) else name
    if typing.get_origin(annotation) is list:
        return f"list of {_type_name(args[0])} (JSON)"
    if isinstance(annotation, type) and annotation in _NAMES:
        return _NAMES[annotation]
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        # The only factories in Settings are list/dict constructors: show the empty value.
        return "`[]`" if field.default_factory is list else "`{}`"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    parts: list[str] = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            parts.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length} characters")
        elif isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} characters")
    return ", ".join(parts)


def _cell(text: str) -> str:
    # A table row is one line, and a bare '|' would start a new cell.
    return " ".join(text.split()).replace("|", "\\|")


def settings_table() -> str:
    """The markdown table of every setting, in declaration order."""
    lines = [
        "| Environment variable | Type | Default | Allowed | What it does |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        cells = [
            f"`{env_var(name)}`",
            _type_name(field.annotation),
            _default(field),
            _bounds(field),
            field.description or "",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def splice(document: str, table: str) -> str:
    """``document`` with the text between the two markers replaced by ``table``."""
    if document.count(START) != 1 or document.count(END) != 1:
        raise ValueError(f"the document needs exactly one {START} and one {END}")
    head, rest = document.split(START)
    if END not in rest:
        raise ValueError(f"{END} must come after {START}")
    _, tail = rest.split(END)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the table in the document")
    mode.add_argument("--check", action="store_true", help="exit 1 if the document is stale")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document (default: %(default)s)")
    args = parser.parse_args(argv)
    table = settings_table()
    if not (args.write or args.check):
        print(table)
        return 0
    current = args.doc.read_text(encoding="utf-8")
    wanted = splice(current, table)
    if args.check:
        if current != wanted:
            print(f"{args.doc} is stale: run python docs/gen_config.py --write", file=sys.stderr)
            return 1
        return 0
    args.doc.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
