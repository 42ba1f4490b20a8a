"""Per-source rate limit for public intake: a sliding-window counter on Redis.

Two fixed one-minute buckets (current and previous); the estimate is
``previous * (share of the window still covered by it) + current``. This smooths the burst a fixed window
allows at its boundary (up to 2x the limit) at the cost of two small keys per source. The check and the
increment run in one Lua script, so replicas never over-admit; rejected requests are not counted, so a
client that backs off as told by ``Retry-After`` gets in.

If Redis is unreachable the limiter fails open (the lead is worth more than the limit), logs a warning at
most every 30 s, and stops asking Redis for a few seconds so an outage does not add a timeout to every
submission.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60

_SCRIPT = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if prev * (window - elapsed) / window + cur + 1 > limit then
  return {0, cur, prev}
end
cur = redis.call('INCR', KEYS[1])
if cur == 1 then redis.call('PEXPIRE', KEYS[1], window * 2) end
return {1, cur, prev}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds, when not allowed
    degraded: bool = False  # Redis did not answer; allowed without counting


def retry_after_ms(limit: int, window_ms: int, elapsed_ms: int, cur: int, prev: int) -> int:
    """Milliseconds until one more request fits under ``limit`` (for the Retry-After header)."""
    remaining_in_window = window_ms - elapsed_ms
    if cur + 1 > limit:
        # Only after this window ends, and then once the (now previous) bucket has decayed enough.
        decay = window_ms * (1 - (limit - 1) / cur) if cur > 0 else 0
        return int(remaining_in_window + max(0.0, decay))
    if prev <= 0:
        return 0
    wait = remaining_in_window - window_ms * (limit - 1 - cur) / prev
    return int(max(0.0, wait))


class RateLimiter:
    def __init__(self, url: str, *, timeout: float = 0.25, pause_after_failure: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.pause_after_failure = pause_after_failure
        self._client: aioredis.Redis | None = None
        self._script: Any = None
        self._down_until = 0.0
        self._last_warning = 0.0

    def _redis(self) -> Any:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry_on_timeout=False,
                health_check_interval=30,
            )
            self._script = self._client.register_script(_SCRIPT)
        return self._script

    async def hit(self, bucket: str, limit: int, now: float | None = None) -> Decision:
        """Count one request against ``bucket``; ``allowed=False`` when it is over ``limit`` per minute."""
        clock = time.monotonic()
        if clock < self._down_until:
            return Decision(True, degraded=True)
        now = time.time() if now is None else now
        window_ms = WINDOW_SECONDS * 1000
        now_ms = int(now * 1000)
        index, elapsed_ms = divmod(now_ms, window_ms)
        # {bucket} is a hash tag: both keys land on the same Redis Cluster slot.
        keys = [f"crm:leads:intake:rl:{{{bucket}}}:{index}", f"crm:leads:intake:rl:{{{bucket}}}:{index - 1}"]
        try:
            script = self._redis()
            allowed, cur, prev = await script(keys=keys, args=[limit, window_ms, elapsed_ms])
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = clock + self.pause_after_failure
            if clock - self._last_warning > 30 or self._last_warning == 0.0:
                self._last_warning = clock
                log.warning("intake rate limit: Redis unavailable (%s); admitting without a limit", exc)
            return Decision(True, degraded=True)
        if allowed:
            return Decision(True)
        wait = retry_after_ms(limit, window_ms, elapsed_ms, int(cur), int(prev))
        return Decision(False, retry_after=max(1, math.ceil(wait / 1000)))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
