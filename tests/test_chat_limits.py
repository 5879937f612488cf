"""Chat rate limits: per user and per IP, counted in PostgreSQL, configurable per tenant."""

from __future__ import annotations

import asyncio

import asyncpg

from cip import errors
from support.chat_client import chat_ok, guest, post_chat
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartClient

RATE_LIMITED = {
    "detail": "Too many messages. Please wait a moment before sending another.",
    "code": "rate_limited",
}


async def count_messages(pool: asyncpg.Pool, tenant_id: object) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM message WHERE tenant_id = $1", tenant_id)
    return count


async def test_per_user_limit_is_429_with_retry_after_and_writes_nothing(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(limits={"chat_per_user_per_minute": 2})
    tenant = await new_tenant()
    user = guest()
    fake_llm.script = Script(deltas=["ok"])
    for _ in range(2):
        await chat_ok(client, tenant, user_id=user, message="hello")
    stored = await count_messages(pool, tenant.id)

    refused = await post_chat(client, tenant, user_id=user, message="one more")
    assert refused.status == 429
    assert await refused.json() == RATE_LIMITED
    assert refused.headers["Retry-After"] == "59"  # the minute ends 59 s after the clock
    assert await count_messages(pool, tenant.id) == stored
    assert len(fake_llm.requests) == 2

    await chat_ok(client, tenant, user_id=guest(), message="another visitor is not limited")


async def test_per_ip_limit_covers_every_user_from_that_address(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client(limits={"chat_per_ip_per_minute": 3})
    tenant = await new_tenant()
    fake_llm.script = Script(deltas=["ok"])
    for _ in range(3):
        await chat_ok(client, tenant, user_id=guest(), message="hello")
    refused = await post_chat(client, tenant, user_id=guest(), message="hello")
    assert refused.status == 429
    other_tenant = await new_tenant()  # counters are per tenant
    await chat_ok(client, other_tenant, user_id=guest(), message="hello")


async def test_tenant_limits_override_the_defaults(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(limits={"chat_per_user_per_minute": 100})
    strict = await new_tenant(limits={"chat_per_user_per_minute": 1, "message_max_chars": 10})
    user = guest()
    fake_llm.script = Script(deltas=["ok"])
    too_long = await post_chat(client, strict, user_id=user, message="x" * 11)
    assert too_long.status == 400
    assert (await too_long.json())["code"] == "message_too_long"
    await chat_ok(client, strict, user_id=user, message="short")
    assert (await post_chat(client, strict, user_id=user, message="again")).status == 429
    relaxed = await new_tenant()
    for _ in range(3):
        await chat_ok(client, relaxed, user_id=user, message="fine here")


async def test_a_chat_not_let_in_within_the_admission_wait_is_503_busy_and_writes_nothing(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    """One admission slot (a pool of one), held by a chat whose opening write waits on a lock:
    the next chat waits its `chat_admission_wait` in line, then is told to come back (503
    `busy`, Retry-After) with nothing written; the first chat goes on once the lock goes."""
    client = await start_client(
        database={"pool_min_size": 1, "pool_max_size": 1}, server={"chat_admission_wait": 0.5}
    )
    tenant = await new_tenant()
    fake_llm.script = Script(deltas=["ok"])
    await chat_ok(client, tenant, user_id=guest(), message="warm: the tenant is cached")
    before = await count_messages(pool, tenant.id)
    async with pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE dialog IN EXCLUSIVE MODE")
        first = asyncio.create_task(chat_ok(client, tenant, user_id=guest(), message="first"))
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'dialog'::regclass"
        )
        async with asyncio.timeout(10):
            while not await pool.fetchval(waiting):
                await asyncio.sleep(0.02)
        refused = await post_chat(client, tenant, user_id=guest(), message="second")
        assert refused.status == 503
        assert await refused.json() == {"detail": errors.Busy.detail, "code": "busy"}
        assert refused.headers["Retry-After"] == "1"
    events = await first
    assert [name for name, _ in events].count("done") == 1
    assert await count_messages(pool, tenant.id) == before + 2  # the first's question and answer
