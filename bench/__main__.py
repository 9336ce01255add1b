"""``python -m bench [redirect|ingest|query|api|all|report] [--quick|--smoke] [--big] [--profile]``.

Each benchmark writes ``bench/results/<timestamp>-<name>[-quick].json``, prints its table and
regenerates the results section of ``bench/README.md``. ``all`` runs the four one after the
other, each in its own process (chDB allows one store per process, and pinning is per process).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import nginx, profile, report, results, wrk
from bench.console import say
from bench.results import Report

BENCHES = ("redirect", "ingest", "query", "api")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "bench",
        nargs="?",
        default="all",
        choices=[*BENCHES, "all", "report"],
        help="which benchmark (default: all); `report` only regenerates the README tables",
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, same data shape")
    parser.add_argument("--big", action="store_true", help="query benchmark on 100 M clicks")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles to results/")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep data here instead of a temp folder "
        "(the query benchmark reuses clicks it generated there before with the same sizes)",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not touch bench/README.md")
    parser.add_argument(
        "--smoke", action="store_true", help="seconds on tiny data: checks the harness works"
    )
    parser.add_argument("--results-dir", type=Path, help="write result files here instead")
    return parser


def _runner(name: str, args: argparse.Namespace) -> Callable[[Path], Report]:
    smoke = bool(args.smoke)
    quick = bool(args.quick) or smoke
    if name == "redirect":
        from bench import redirect  # noqa: PLC0415 — each benchmark loads only what it uses

        rp = redirect.Params.smoke() if smoke else redirect.Params.quick() if quick else None
        return lambda w: redirect.run(rp or redirect.Params(), w, quick=quick)
    if name == "ingest":
        from bench import ingest  # noqa: PLC0415

        ip = ingest.Params.smoke() if smoke else ingest.Params.quick() if quick else None
        return lambda w: ingest.run(ip or ingest.Params(), w, quick=quick)
    if name == "query":
        from bench import query  # noqa: PLC0415

        qp = query.Params.smoke() if smoke else query.Params.quick() if quick else None
        if args.big and not smoke:
            qp = query.Params.big(quick=quick)
        keep = args.workdir is not None
        return lambda w: query.run(qp or query.Params(), w, quick=quick, keep=keep)
    from bench import api  # noqa: PLC0415

    ap = api.Params.smoke() if smoke else api.Params.quick() if quick else None
    return lambda w: api.run(ap or api.Params(), w, quick=quick)


def _missing_tools(name: str) -> str:
    # ingest and api record their wrk-driven rows as skipped instead; the redirect benchmark
    # is nothing without wrk, and its ratios are nothing without nginx.
    if name == "redirect" and not wrk.available():
        return "wrk is not installed: run bench/setup.sh (Debian/Ubuntu) first"
    if name == "redirect" and not nginx.available():
        return "nginx is not installed: run bench/setup.sh (Debian/Ubuntu) first"
    return ""


def run_one(name: str, args: argparse.Namespace) -> int:
    """Run one benchmark in this process, save and print its results."""
    from linkhop.logging import configure_logging  # noqa: PLC0415

    configure_logging(level="warning", fmt="console")
    if missing := _missing_tools(name):
        print(f"bench {name}: {missing}", file=sys.stderr)
        return 2
    if args.profile:
        profile.enable()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"linkhop-bench-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        got = _runner(name, args)(workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    path = results.save(got, args.results_dir or results.RESULTS_DIR)
    say(f"{name}: results in {path}")
    print(report.render(got, source=f"`results/{path.name}`"))
    if not (args.no_readme or args.smoke or args.results_dir) and report.update_readme():
        say("bench/README.md results section regenerated")
    return 0


def run_all(args: argparse.Namespace) -> int:
    """Each benchmark in a child process, one after the other; the worst exit code wins."""
    switches = ("quick", "big", "profile", "no_readme", "smoke")
    flags = ["--" + s.replace("_", "-") for s in switches if getattr(args, s)]
    if args.results_dir:
        flags += ["--results-dir", str(args.results_dir)]
    worst = 0
    for name in BENCHES:
        say(f"=== {name} ===")
        done = subprocess.run([sys.executable, "-m", "bench", name, *flags], check=False)
        worst = max(worst, done.returncode)
    return worst


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every started server and nginx is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.bench == "report":
        ok = report.update_readme()
        print(report.results_section() if not ok else "bench/README.md regenerated")
        return 0
    if args.bench == "all":
        return run_all(args)
    return run_one(args.bench, args)


if __name__ == "__main__":
    sys.exit(main())
