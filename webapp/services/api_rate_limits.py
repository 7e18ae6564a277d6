"""Rate limits per API key: a token bucket per key and kind of request, in this process.

Run reports (`POST /api/v1/runs`) have their own, larger bucket, so a burst of reports at
midnight neither waits behind nor starves a script that reads alerts. Counted per process, in
memory: a request costs a lock and a little arithmetic, never a database write (with several
gunicorn workers a key gets the limit in each). Nothing on the delivery path is limited here.
"""
import math
import threading
import time
from dataclasses import dataclass

MAX_KEYS = 10_000  # buckets kept; the idlest are forgotten first (a forgotten bucket is full)


@dataclass(frozen=True)
class Decision:
    """What a request may do now: `allowed`, and the RateLimit-* header values."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again (allowed) or holds one token (refused)

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class TokenBucket:
    """`rate` requests a second on average, up to `burst` at once, per key."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self._buckets: dict[object, tuple[float, float]] = {}  # key → (tokens, updated)
        self._lock = threading.Lock()

    def take(self, key) -> Decision:
        now = self.clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)  # re-inserted: the dict's order is least recently used first
            if len(self._buckets) > MAX_KEYS:
                del self._buckets[next(iter(self._buckets))]
        if allowed:
            reset = math.ceil((self.burst - tokens) / self.rate) if self.rate > 0 else 0
        else:
            reset = max(1, math.ceil((1.0 - tokens) / self.rate)) if self.rate > 0 else 3600
        return Decision(allowed, self.burst, int(tokens), reset)


class ApiRateLimits:
    """The two buckets of this process: run reports, and every other API request."""

    def __init__(self, config: dict):
        self.reports = TokenBucket(config["TOCSIN_API_REPORT_RATE"], config["TOCSIN_API_REPORT_BURST"])
        self.other = TokenBucket(config["TOCSIN_API_RATE"], config["TOCSIN_API_BURST"])

    def take(self, key_id: int, *, is_report: bool) -> Decision:
        return (self.reports if is_report else self.other).take(key_id)
