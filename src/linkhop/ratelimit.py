"""Failed-login throttling: a sliding window per key (email, client address), in process.

Pure apart from the injected clock. Per-process state is enough for ``linkhop serve``; with
several API replicas each counts on its own (a shared Redis window comes with the scale-out).
"""

from __future__ import annotations

import math
from collections import deque


class FailureWindow:
    """At most ``limit`` failures per ``window`` seconds for each key."""

    def __init__(self, *, limit: int = 10, window: float = 900.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, keys: list[str], now: float) -> int:
        """Seconds until a blocked key may try again; 0 when none is blocked."""
        wait = 0.0
        for key in keys:
            stamps = self._prune(key, now)
            if len(stamps) >= self.limit:
                wait = max(wait, stamps[0] + self.window - now)
        return math.ceil(wait)

    def fail(self, keys: list[str], now: float) -> None:
        """Record one failure against every key."""
        if len(self._failures) >= self.max_keys:
            self._failures.pop(next(iter(self._failures)))  # memory bound: drop the oldest key
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def reset(self, keys: list[str]) -> None:
        """Forget failures after a success."""
        for key in keys:
            self._failures.pop(key, None)
