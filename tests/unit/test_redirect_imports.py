"""`linkhop redirect` must start fast: it loads no API framework, analytics client or Redis
client it does not use (architecture.md §2, issue 3: ready in under a second)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastapi", "clickhouse_connect", "chdb", "redis", "pyarrow")


def test_the_redirect_process_imports_stay_lean() -> None:
    code = (
        "import sys, linkhop.apps.servers, linkhop.apps.redirect;"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
