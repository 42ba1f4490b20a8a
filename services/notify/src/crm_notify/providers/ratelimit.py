"""Per-provider rate limits shared by every worker: a token bucket in Redis (one Lua script, so replicas
never over-admit). Fails open when Redis does not answer: a late SMS is worse than a brief burst."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class ProviderRateLimiter:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis | None = None
        self._script: Any = None

    async def acquire(self, provider: str, rate_per_second: float | None, cost: int = 1) -> float:
        """0.0 when ``cost`` tokens were taken, else the seconds to wait before trying again."""
        if not rate_per_second or rate_per_second <= 0:
            return 0.0
        burst = max(1.0, rate_per_second, float(cost))
        try:
            if self._client is None:
                self._client = aioredis.Redis.from_url(
                    self.url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
                self._script = self._client.register_script(_SCRIPT)
            wait = await self._script(
                keys=[f"crm:notify:rl:{{{provider}}}"], args=[rate_per_second, burst, time.time(), cost]
            )
            return float(wait)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("provider rate limit: Redis unavailable (%s); sending without a limit", exc)
            return 0.0

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
