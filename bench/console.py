"""Progress lines on stderr (stdout stays free for the final summary)."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def say(message: str) -> None:
    """Print one progress line with the seconds since the harness started."""
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)
