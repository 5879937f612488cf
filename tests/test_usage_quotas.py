"""Usage and quotas: every answer's tokens counted per tenant and day (the upstream's usage, or
an estimate), `cip usage`, the monthly answer and token quotas (429 `quota_exceeded` with
nothing written, exact under concurrency), a discarded answer's reservation given back, and
the month's one warning mail."""

from __future__ import annotations

import asyncio
import datetime
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from cip import keys
from cip.chat.rules import token_count
from cip.config import Config
from cip.db.store.messages import TokenCount
from cip.tenancy import settings_of
from support.chat_client import chat_ok, guest, post_chat
from support.cli import cip
from support.fake_llm import USAGE, FakeLlm, Script
from support.fixtures import NewTenant, StartClient
from support.smtp_server import SmtpServer

Client = TestClient[Any, Any]
QUOTA_EXCEEDED = {
    "detail": "This chat has used up its quota for the month. Please try again later.",
    "code": "quota_exceeded",
}
GENEROUS = {"chat_per_user_per_minute": 1000, "chat_per_ip_per_minute": 1000}


@pytest.fixture
async def client(start_client: StartClient) -> Client:
    """A client of the app whose rate limits stay out of the way of the quotas."""
    return await start_client(limits=GENEROUS)


async def usage_rows(pool: asyncpg.Pool, tenant_id: object) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT day, sum(answers)::integer AS answers, sum(prompt_tokens)::bigint AS"
        " prompt_tokens, sum(completion_tokens)::bigint AS completion_tokens,"
        " sum(estimated_answers)::integer AS estimated_answers"
        " FROM tenant_usage WHERE tenant_id = $1 GROUP BY day",
        tenant_id,
    )
    return [dict(row) for row in rows]


async def month_of(pool: asyncpg.Pool, tenant_id: object) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT answers_reserved, warned_at IS NOT NULL AS warned,"
        " (SELECT COALESCE(sum(prompt_tokens + completion_tokens), 0)::bigint"
        "  FROM tenant_usage WHERE tenant_id = $1) AS tokens_used"
        " FROM tenant_quota_month WHERE tenant_id = $1",
        tenant_id,
    )
    assert row is not None
    return dict(row)


async def count_messages(pool: asyncpg.Pool, tenant_id: object) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM message WHERE tenant_id = $1", tenant_id)
    return count


async def today(pool: asyncpg.Pool) -> datetime.date:
    day: datetime.date = await pool.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    return day


async def test_usage_is_the_upstreams_or_an_estimate(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(monthly_answer_quota=1000)
    fake_llm.script = Script(deltas=["Hello, ", "world!"])
    await chat_ok(client, tenant, user_id=guest(), message="hello")
    assert await usage_rows(pool, tenant.id) == [
        {
            "day": await today(pool),
            "answers": 1,
            "prompt_tokens": USAGE["prompt_tokens"],
            "completion_tokens": USAGE["completion_tokens"],
            "estimated_answers": 0,
        }
    ]

    fake_llm.script = Script(deltas=["Thirteen char"], usage=None)
    await chat_ok(client, tenant, user_id=guest(), message="no usage this time")
    sent = sum(len(message["content"]) for message in fake_llm.requests[-1].json["messages"])
    estimated_prompt, estimated_completion = -(-sent // 4), 4  # 13 characters: 4 tokens
    assert await usage_rows(pool, tenant.id) == [
        {
            "day": await today(pool),
            "answers": 2,
            "prompt_tokens": USAGE["prompt_tokens"] + estimated_prompt,
            "completion_tokens": USAGE["completion_tokens"] + estimated_completion,
            "estimated_answers": 1,
        }
    ]
    month = await month_of(pool, tenant.id)
    assert month == {
        "answers_reserved": 2,
        "tokens_used": USAGE["total_tokens"] + estimated_prompt + estimated_completion,
        "warned": False,
    }
    assert await usage_rows(pool, (await new_tenant()).id) == []  # per tenant

    # A tenant without quotas reserves nothing (no statement, no lock), and is still counted.
    unlimited = await new_tenant()
    await chat_ok(client, unlimited, user_id=guest(), message="hello")
    assert [row["answers"] for row in await usage_rows(pool, unlimited.id)] == [1]
    assert not await pool.fetchval(
        "SELECT count(*) FROM tenant_quota_month WHERE tenant_id = $1", unlimited.id
    )


async def test_answer_quota_lets_exactly_its_number_through_50_parallel_chats(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(monthly_answer_quota=17)
    fake_llm.script = Script(deltas=["ok"])

    async def chat() -> tuple[int, Any]:
        response = await post_chat(client, tenant, user_id=guest(), message="hello")
        body = await (response.json() if response.status == 429 else response.text())
        return response.status, body

    results = await asyncio.gather(*(chat() for _ in range(50)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 17 + [429] * 33
    assert all(body == QUOTA_EXCEEDED for status, body in results if status == 429)
    assert len(fake_llm.requests) == 17
    assert await count_messages(pool, tenant.id) == 34  # 17 questions, 17 answers
    assert (await month_of(pool, tenant.id))["answers_reserved"] == 17
    assert (await usage_rows(pool, tenant.id))[0]["answers"] == 17


async def test_two_instances_at_the_edge_of_the_quota_let_exactly_the_rest_through(
    client: Client,
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    """A month 95 answers into a quota of 100; 50 chats at once, half to each instance (each
    its own pool): PostgreSQL alone decides, and 5 get through."""
    tenant = await new_tenant(monthly_answer_quota=100)
    await pool.execute(
        "INSERT INTO tenant_quota_month (tenant_id, month, answers_reserved)"
        " VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 95)",
        tenant.id,
    )
    instances = [client, await start_client(limits=GENEROUS)]
    fake_llm.script = Script(deltas=["ok"])

    async def chat(n: int) -> int:
        response = await post_chat(instances[n % 2], tenant, user_id=guest(), message="hello")
        await response.read()
        status: int = response.status
        return status

    statuses = sorted(await asyncio.gather(*(chat(n) for n in range(50))))
    assert statuses == [200] * 5 + [429] * 45
    assert len(fake_llm.requests) == 5
    assert await count_messages(pool, tenant.id) == 10
    assert (await month_of(pool, tenant.id))["answers_reserved"] == 100
    assert (await usage_rows(pool, tenant.id))[0]["answers"] == 5


async def test_past_the_quota_a_chat_or_regeneration_is_429_and_writes_nothing(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, user = await new_tenant(monthly_answer_quota=1), guest()
    fake_llm.script = Script(deltas=["ok"])
    first = (await chat_ok(client, tenant, user_id=user, message="hello"))[0][1]
    stored = await count_messages(pool, tenant.id)
    before = await month_of(pool, tenant.id)

    refused = await post_chat(client, tenant, user_id=user, message="one more")
    assert refused.status == 429
    assert await refused.json() == QUOTA_EXCEEDED
    again = await client.post(
        f"/api/v1/tenants/{tenant.id}/chat/{first['message_id']}/regenerate",
        headers={"X-User-Id": user},
    )
    assert again.status == 429
    assert await again.json() == QUOTA_EXCEEDED
    assert await count_messages(pool, tenant.id) == stored
    assert await month_of(pool, tenant.id) == before
    assert len(fake_llm.requests) == 1
    await chat_ok(client, await new_tenant(), user_id=user, message="another tenant is not held")


async def test_token_quota_refuses_once_the_recorded_tokens_reach_it(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(monthly_token_quota=USAGE["total_tokens"] + 1)
    fake_llm.script = Script(deltas=["ok"])
    await chat_ok(client, tenant, user_id=guest(), message="hello")  # 16 tokens: under
    await chat_ok(client, tenant, user_id=guest(), message="hello")  # 32: past it
    refused = await post_chat(client, tenant, user_id=guest(), message="hello")
    assert refused.status == 429
    assert await refused.json() == QUOTA_EXCEEDED


async def test_an_answer_discarded_before_it_started_gives_its_reservation_back(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(monthly_answer_quota=1)
    fake_llm.script = Script(status=500)
    failed = await post_chat(client, tenant, user_id=guest(), message="hello")
    assert failed.status == 502
    assert await month_of(pool, tenant.id) == {
        "answers_reserved": 0,
        "tokens_used": 0,
        "warned": False,
    }
    assert await usage_rows(pool, tenant.id) == []
    fake_llm.script = Script(deltas=["ok"])
    await chat_ok(client, tenant, user_id=guest(), message="the quota's one answer")

    missing = await post_chat(
        client, tenant, user_id=guest(), message="hi", dialog_id=str(tenant.id)
    )
    assert missing.status == 429  # the quota is checked first: nothing about the dialog leaks
    assert (await month_of(pool, tenant.id))["answers_reserved"] == 1


async def test_a_dialog_refused_after_the_reservation_gives_it_back(
    client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(monthly_answer_quota=1)
    fake_llm.script = Script(deltas=["ok"])
    missing = await post_chat(
        client, tenant, user_id=guest(), message="hi", dialog_id=str(tenant.id)
    )
    assert missing.status == 404
    assert (await month_of(pool, tenant.id))["answers_reserved"] == 0
    await chat_ok(client, tenant, user_id=guest(), message="still allowed")


async def test_the_warning_mail_goes_once_a_month_across_instances(
    start_client: StartClient,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    smtp_server: SmtpServer,
) -> None:
    smtp = {"host": "127.0.0.1", "port": smtp_server.port, "retries": 2, "retry_delay": 0.01}
    instances = [await start_client(limits=GENEROUS, smtp=smtp) for _ in range(2)]
    notify = ["ops@example.com", "billing@example.com"]
    tenant = await new_tenant(
        locale="en", monthly_answer_quota=10, quota_warning_percent=30, notify=notify
    )
    fake_llm.script = Script(deltas=["ok"])
    await chat_ok(instances[0], tenant, user_id=guest(), message="1")
    await chat_ok(instances[1], tenant, user_id=guest(), message="2")
    for client in instances:
        await client.app[keys.MAILER].idle()
    assert smtp_server.received == []  # 20%: under the threshold
    assert not (await month_of(pool, tenant.id))["warned"]

    await chat_ok(instances[0], tenant, user_id=guest(), message="3")  # 30%
    mails = await smtp_server.wait_for(len(notify))
    await asyncio.gather(
        *(chat_ok(instances[n % 2], tenant, user_id=guest(), message="n") for n in range(6))
    )
    for client in instances:
        await client.app[keys.MAILER].idle()
    assert smtp_server.received == mails
    assert sorted(address for mail in mails for address in mail.envelope_to) == sorted(notify)
    assert {mail.subject for mail in mails} == {f"{tenant.name}: 30% of a monthly quota used"}
    assert "only warning this month" in mails[0].text
    assert (await month_of(pool, tenant.id))["warned"]


async def test_cip_usage_prints_the_days_and_totals(
    new_tenant: NewTenant, pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    tenant = await new_tenant()
    day = await today(pool)
    earlier = day - datetime.timedelta(days=3)
    await pool.execute(
        "INSERT INTO tenant_usage (tenant_id, day, shard, answers, prompt_tokens,"
        " completion_tokens, estimated_answers)"
        " VALUES ($1, $2, 0, 1, 60, 10, 1), ($1, $2, 7, 1, 40, 30, 0), ($1, $3, 3, 1, 10, 5, 0)",
        tenant.id,
        earlier,
        day,
    )
    first, last = (earlier - datetime.timedelta(days=1)).isoformat(), day.isoformat()

    def usage(slug: str, since: str, until: str) -> subprocess.CompletedProcess[str]:
        arguments = ["usage", "--tenant", slug, "--from", since, "--to", until]
        return cip(*arguments, database_url=database_url, tmp_path=tmp_path)

    shown = usage(tenant.slug, first, last)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "day\tanswers\tprompt_tokens\tcompletion_tokens\testimated_answers",
        f"{earlier.isoformat()}\t2\t100\t40\t1",
        f"{day.isoformat()}\t1\t10\t5\t0",
        "total\t3\t110\t45\t1",
    ]
    assert usage(tenant.slug, last, last).stdout.splitlines()[1:] == [
        f"{day.isoformat()}\t1\t10\t5\t0",
        "total\t1\t10\t5\t0",
    ]
    assert usage(tenant.slug, first, first).stdout.splitlines()[1:] == ["total\t0\t0\t0\t0"]

    refusals = [
        (usage(tenant.slug, last, first), f"cip: --from {last} is after --to {first}\n"),
        (
            usage(tenant.slug, "2026-02-30", last),
            "cip usage: argument --from: a date like 2026-01-31; see `cip usage --help`\n",
        ),
        (
            usage("no-such-tenant", first, last),
            "cip: no tenant with slug 'no-such-tenant' (`cip tenant list` lists them)\n",
        ),
    ]
    for refused, message in refusals:
        assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", message)


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},
        {"prompt_tokens": 12},
        {"prompt_tokens": True, "completion_tokens": 4},
        {"prompt_tokens": "12", "completion_tokens": 4},
        {"prompt_tokens": -1, "completion_tokens": 4},
    ],
)
def test_an_answer_without_two_token_counts_is_estimated(usage: dict[str, Any] | None) -> None:
    estimate = TokenCount(prompt=3, completion=1, estimated=True)  # 9 and 1 characters
    assert token_count(usage, prompt_chars=9, completion_chars=1) == estimate
    assert token_count(
        {"prompt_tokens": 12, "completion_tokens": 4}, prompt_chars=9, completion_chars=1
    ) == TokenCount(prompt=12, completion=4, estimated=False)


def test_malformed_stored_quota_settings_mean_none(config: Config) -> None:
    stored = {
        "monthly_answer_quota": "ten",
        "monthly_token_quota": -5,
        "quota_warning_percent": 250,
        "notify": ["ops@example.com", "Bcc: x@example.com\r\nTo: y@example.com", 7],
    }
    settings = settings_of(stored, config)
    assert (
        settings.monthly_answer_quota,
        settings.monthly_token_quota,
        settings.quota_warning_percent,
        settings.notify,
    ) == (0, 0, 0, ("ops@example.com",))
