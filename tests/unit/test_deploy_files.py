"""The deployment files name only commands and settings that exist, and probe real endpoints."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from linkhop.apps.ops import OPS_PATHS
from linkhop.cli import app
from linkhop.settings import Settings

DEPLOY = Path(__file__).parents[2] / "deploy"
SETTINGS = {f"LINKHOP_{name.upper()}" for name in Settings.model_fields}
COMMANDS = set(get_command(app).commands)  # type: ignore[attr-defined]
ENV_NAME = re.compile(r"\bLINKHOP_[A-Z0-9_]+\b")


def _all_text() -> dict[Path, str]:
    return {p: p.read_text() for p in DEPLOY.rglob("*") if p.is_file()}


def test_every_linkhop_variable_is_a_setting() -> None:
    named = {(p.name, v) for p, text in _all_text().items() for v in ENV_NAME.findall(text)}
    unknown = sorted((f, v) for f, v in named if v not in SETTINGS)
    assert not unknown, f"deploy files name settings that do not exist: {unknown}"
    assert len(named) > 10


def _systemd_units() -> list[configparser.ConfigParser]:
    units = []
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
        parser.read(path)
        units.append(parser)
    return units


def test_systemd_units_run_real_commands() -> None:
    units = _systemd_units()
    assert len(units) == 4
    for unit in units:
        argv = shlex.split(unit["Service"]["ExecStart"])
        assert argv[0].endswith("/linkhop") and argv[1] in COMMANDS, argv


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    return containers


def test_kubernetes_workloads_run_real_commands_and_probe_real_paths() -> None:
    docs = _manifests()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for role in ("redirect", "api", "worker"):
        assert ("Deployment", f"linkhop-{role}") in kinds
        assert ("HorizontalPodAutoscaler", f"linkhop-{role}") in kinds
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in _containers(doc):
            assert container["args"][0] in COMMANDS, container["args"]
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            env = {e["name"]: e["value"] for e in container.get("env", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                if doc["kind"] == "Job":
                    continue
                get = container[probe]["httpGet"]
                assert get["path"] in OPS_PATHS
                port = ports[get["port"]]
                assert str(port) in (env.get("LINKHOP_PORT"), env.get("LINKHOP_WORKER_PORT"))


def test_hpas_target_existing_deployments() -> None:
    docs = _manifests()
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    for doc in docs:
        if doc["kind"] == "HorizontalPodAutoscaler":
            assert doc["spec"]["scaleTargetRef"]["name"] in deployments


@pytest.mark.parametrize("name", ["ENTRYPOINT", "CMD"])
def test_dockerfile_runs_linkhop(name: str) -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    line = next(line for line in text.splitlines() if line.startswith(name))
    words = yaml.safe_load(line.split(" ", 1)[1])
    assert words == ["linkhop"] if name == "ENTRYPOINT" else words[0] in COMMANDS
