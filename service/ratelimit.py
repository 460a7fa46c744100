"""Rate limit of authentication failures, per client address.

After ``limit`` failed authentications within ``window_s`` seconds, every request from
that address that needs credentials is answered 429 (with ``Retry-After``) until the
oldest failure leaves the window, so keys and tokens cannot be guessed at speed. The
state is per process: each API replica limits on its own (a guess rate of at most
``limit`` per window and replica)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

from service.errors import ServiceError

MAX_TRACKED = 10_000  # addresses kept; the least recently failing are forgotten first


class AuthFailureLimiter:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def check(self, address: str) -> None:
        """Raise 429 when ``address`` has used up its failures in the window."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if failures is None or len(failures) < self.limit:
                return
            retry = max(1, math.ceil(failures[0] + self.window_s - now))
        raise ServiceError(
            f"too many failed authentications from this address; retry in {retry} s",
            429,
            "too_many_requests",
            {"Retry-After": str(retry)},
        )

    def record_failure(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now) or deque()
            failures.append(now)
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)
