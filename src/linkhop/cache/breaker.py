"""A circuit breaker for an optional backend: after a failure, stop asking it for a while.

A dead Redis must cost the redirect path almost nothing: without a breaker every cache miss
would wait for a connect or read timeout before falling back to the database. Pure state with
the clock passed in, so it is testable without sleeping.
"""

from __future__ import annotations


class CircuitBreaker:
    """Closed: calls go through. Open: calls are skipped until ``cooldown`` seconds pass."""

    __slots__ = ("_open_until", "cooldown", "is_open", "trips")

    def __init__(self, *, cooldown: float) -> None:
        if cooldown < 0:
            raise ValueError("cooldown must not be negative")
        self.cooldown = cooldown
        self.is_open = False
        self._open_until = 0.0
        self.trips = 0

    def allow(self, now: float) -> bool:
        """Whether a call may try the backend at ``now``."""
        if not self.is_open:
            return True
        if now < self._open_until:
            return False
        # This caller is the probe. Pushing the deadline keeps every other caller skipping
        # until the probe has answered, so a still-dead backend costs one timeout per cooldown.
        self._open_until = now + self.cooldown
        return True

    def success(self) -> bool:
        """Record a call that worked; True if that closed an open circuit."""
        if not self.is_open:
            return False
        self.is_open = False
        return True

    def failure(self, now: float) -> bool:
        """Record a failed call at ``now``; True if that opened a closed circuit."""
        self._open_until = now + self.cooldown
        if self.is_open:
            return False
        self.is_open = True
        self.trips += 1
        return True
