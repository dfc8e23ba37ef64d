"""Rate limits per API key (the `limits` library, a moving window in memory).

Each `payments api` process counts on its own: N processes behind a balancer allow N
times the limit. A shared storage (`limits` speaks Redis, Memcached, MongoDB) makes it
one limit; none is configured yet.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class KeyLimiter:
    def __init__(self, limit: str) -> None:
        self.item: RateLimitItem = parse(limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, key_prefix: str) -> int | None:
        """None when this request may go; else the whole seconds until one may."""
        if self.limiter.hit(self.item, key_prefix):
            return None
        reset_at = self.limiter.get_window_stats(self.item, key_prefix).reset_time
        return max(1, math.ceil(reset_at - time.time()))
