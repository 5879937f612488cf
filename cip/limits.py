"""Request limits: the effective `[limits]` of a tenant, and the chat rate limit.

`[tenants.<slug>.limits]` overrides single keys of `[limits]`; it is synchronised into
`tenant.settings` with the rest of the section, so every instance applies the same numbers.
Counters live in PostgreSQL (`cip.store.rate_limits`), shared by every instance.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from cip import errors
from cip.config import Config, LimitsConfig
from cip.store import rate_limits
from cip.store.tenants import TenantRow

MINUTE = 60


def effective_limits(config: Config, tenant: TenantRow) -> LimitsConfig:
    own: Any = tenant.settings.get("limits")
    if not isinstance(own, dict) or not own:
        return config.limits
    return LimitsConfig.model_validate({**config.limits.model_dump(), **own})


async def check_chat_rate(pool: asyncpg.Pool, tenant: TenantRow, limits: LimitsConfig, *,
                          user_id: str, ip: str) -> None:
    """Count this chat request for its user and its IP; 429 with Retry-After past either limit."""
    per_user = f"chat:user:{tenant.id}:{user_id}"
    per_ip = f"chat:ip:{tenant.id}:{ip}"
    counters = await rate_limits.hit(pool, [per_user, per_ip], MINUTE)
    rate_limits.refuse(counters, {per_user: limits.chat_per_user_per_minute,
                                  per_ip: limits.chat_per_ip_per_minute},
                       counted=True, detail=errors.CHAT_RATE_LIMITED)
