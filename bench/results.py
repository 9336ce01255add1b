"""Result files: one JSON document per benchmark run in ``bench/results/``, rows with targets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine

RESULTS_DIR = Path(__file__).parent / "results"
Metric = float | int | str | None


@dataclass
class Row:
    """One measured (or skipped) configuration and how it compares with its target."""

    name: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    target: str = ""  # the target, in words, shown next to the result
    met: bool | None = None  # None: no target applies, or the row was skipped
    note: str = ""
    skipped: str = ""  # non-empty: the row was not run, and this says why
    detail: dict[str, Any] = field(default_factory=dict)  # per-round values, for the JSON only


@dataclass
class Report:
    """Everything one benchmark produced, plus where and how it ran."""

    bench: str
    quick: bool
    params: dict[str, Any]
    # (metric key, column label) for the README table, in order.
    columns: list[tuple[str, str]]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    machine: dict[str, Any] = field(default_factory=machine.describe)
    finished: str = ""
    load_after: list[float] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        """Append ``row`` and return it."""
        self.rows.append(row)
        return row

    def skip(self, name: str, reason: str, *, target: str = "") -> Row:
        """Record a configuration that cannot run (yet), with the reason."""
        return self.add(Row(name=name, target=target, skipped=reason))


def save(report: Report, directory: Path = RESULTS_DIR) -> Path:
    """Write ``<timestamp>-<bench>.json`` and return its path."""
    report.finished = datetime.now(UTC).isoformat(timespec="seconds")
    report.load_after = [round(x, 2) for x in machine.load_average()]
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}-{report.bench}{'-quick' if report.quick else ''}.json"
    path.write_text(json.dumps(dataclasses.asdict(report), indent=2, ensure_ascii=False) + "\n")
    return path


def load(path: Path) -> Report:
    """Read a result file back."""
    data = json.loads(path.read_text())
    data["rows"] = [Row(**row) for row in data["rows"]]
    data["columns"] = [tuple(c) for c in data["columns"]]
    return Report(**data)


def latest(bench: str, directory: Path = RESULTS_DIR) -> Path | None:
    """The newest result file of ``bench`` (quick or full), if any."""
    files = sorted(directory.glob(f"*-{bench}.json")) + sorted(
        directory.glob(f"*-{bench}-quick.json")
    )
    return max(files, key=lambda p: p.name) if files else None
