"""`/metrics`: Prometheus' text format, read with prometheus-client's own parser after real
traffic (chats against the fake DeepSeek, a refusal, LLM failures, a mail that cannot be sent);
only the addresses `[metrics] allow` lists may read it, and nginx does not relay it; the
dashboard asks for nothing else; under `--workers` every worker's counts add up whichever
worker answers the scrape, a dead worker's gauges stop counting and the shared directory
goes with the supervisor.

The metrics of one process add up over every app it built: each test compares a scrape after
its traffic with one before."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from cip import keys
from cip.db.store.tenants import TenantRow
from support.chat_client import ask_while_headers_are_held, chat_ok, guest, post_chat
from support.database import ROOT
from support.fake_llm import USAGE, FakeLlm, Script
from support.fixtures import Client, NewTenant, StartClient
from support.live_server import free_port
from support.process_server import TENANT_SLUG, ProcessServer
from support.proxy import Proxy
from support.sse_events import parse_sse

GUARD_SECONDS = 60  # against hangs only
CHAT = "/api/v1/tenants/{tenant_id}/chat"
BY_SLUG = "/api/v1/tenants/by-slug/{slug}"
MULTIPROC = b"PROMETHEUS_MULTIPROC_DIR="
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by its name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await response.text())


async def test_chats_refusals_and_llm_failures_are_counted(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client(limits={"chat_per_user_per_minute": 2})
    tenant = await new_tenant()
    before = await scrape(client)

    user = guest()
    fake_llm.script = Script(deltas=["ok"])
    for _ in range(2):
        await chat_ok(client, tenant, user_id=user, message="hello")
    assert (await post_chat(client, tenant, user_id=user, message="one more")).status == 429
    fake_llm.script = Script(status=500)
    assert (await post_chat(client, tenant, user_id=guest(), message="hello")).status == 502
    fake_llm.script = Script(deltas=["half an answer"], after="drop")
    dropped = await chat_ok(client, tenant, user_id=guest(), message="hello")
    assert dropped[-1][0] == "error"
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    chat = {"route": CHAT, "method": "POST"}
    assert grew("cip_http_requests_total", **chat, status="200") == 3
    assert grew("cip_http_requests_total", **chat, status="429") == 1
    assert grew("cip_http_requests_total", **chat, status="502") == 1
    assert grew("cip_http_request_duration_seconds_count", **chat, status="200") == 3
    assert grew("cip_http_request_duration_seconds_bucket", **chat, status="200", le="+Inf") == 3
    assert grew("cip_llm_first_token_seconds_count") == 3
    assert grew("cip_llm_response_seconds_count") == 4  # the 500 is a response too
    assert grew("cip_llm_failures_total", kind="llm_error_status") == 1
    assert grew("cip_llm_failures_total", kind="llm_disconnected") == 1
    assert grew("cip_rate_limit_refusals_total", rule="chat:user") == 1
    # The route template, never the raw path: no tenant id in any label.
    assert not any(str(tenant.id) in str(labels) for _, labels in after)


async def test_a_path_no_route_takes_is_counted_as_unmatched(
    start_client: StartClient,
) -> None:
    client = await start_client()
    before = await scrape(client)
    assert (await client.get("/api/v1/no-such-route")).status == 404
    after = await scrape(client)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    grown = value(after, "cip_http_requests_total", **labels)
    assert grown - value(before, "cip_http_requests_total", **labels) == 1


async def test_the_gauges_show_an_open_stream_and_the_pool(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    client = await start_client()
    tenant = await new_tenant()
    asking = await ask_while_headers_are_held(client, fake_llm, tenant, guest(), "hello")
    held = await scrape(client)
    assert value(held, "cip_open_streams") == 1
    assert value(held, "cip_db_pool_size") >= 1
    assert 0 <= value(held, "cip_db_pool_in_use") <= value(held, "cip_db_pool_size")
    assert value(held, "cip_mail_queue_length") == 0
    assert fake_llm.script.hold_headers is not None
    fake_llm.script.hold_headers.set()
    assert (await asking).status == 200
    await (await asking).text()
    async with asyncio.timeout(GUARD_SECONDS):
        while value(await scrape(client), "cip_open_streams") != 0:  # the answer is stored
            await asyncio.sleep(0.02)


async def test_a_caller_waiting_for_the_pool_is_counted(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    """The pool's one connection held: a request that needs the database waits for it."""
    client = await start_client(database={"pool_min_size": 1, "pool_max_size": 1})
    tenant = await new_tenant()  # not cached yet: reading it takes a connection
    pool = client.app[keys.POOL]
    async with pool.acquire():
        reading = asyncio.create_task(client.get(f"/api/v1/tenants/by-slug/{tenant.slug}"))
        async with asyncio.timeout(GUARD_SECONDS):
            while value(held := await scrape(client), "cip_db_pool_waiting") == 0:
                await asyncio.sleep(0.02)
        assert value(held, "cip_db_pool_waiting") == 1
        assert value(held, "cip_db_pool_in_use") == value(held, "cip_db_pool_size") == 1
    assert (await reading).status == 200
    assert value(await scrape(client), "cip_db_pool_waiting") == 0


TENANT_FAMILIES = ("cip_answers", "cip_tokens", "cip_quota_refusals")


async def usage_of(pool: asyncpg.Pool, tenant: TenantRow) -> tuple[int, int]:
    """The tenant's prompt and completion tokens as its usage accounting has them."""
    row = await pool.fetchrow(
        "SELECT coalesce(sum(prompt_tokens), 0) AS prompt,"
        " coalesce(sum(completion_tokens), 0) AS completion"
        " FROM tenant_usage WHERE tenant_id = $1",
        tenant.id,
    )
    assert row is not None
    return row["prompt"], row["completion"]


async def use(client: Client, fake_llm: FakeLlm, capped: TenantRow, free: TenantRow) -> None:
    """`capped` (a quota of one answer) answers once and refuses once; `free` answers with
    the upstream's usage, without it (estimated), and fails half way."""
    fake_llm.script = Script(deltas=["ok"])
    await chat_ok(client, capped, user_id=guest(), message="hello")
    refused = await post_chat(client, capped, user_id=guest(), message="again")
    assert (refused.status, (await refused.json())["code"]) == (429, "quota_exceeded")
    await chat_ok(client, free, user_id=guest(), message="hello")
    fake_llm.script = Script(deltas=["an answer of no usage"], usage=None)
    await chat_ok(client, free, user_id=guest(), message="hello")
    fake_llm.script = Script(deltas=["half an answer"], after="drop")
    assert (await chat_ok(client, free, user_id=guest(), message="hello"))[-1][0] == "error"


async def test_what_each_tenant_uses_is_counted_with_the_tenant_label_on(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client(metrics={"tenant_label": True})
    capped, free = await new_tenant(monthly_answer_quota=1), await new_tenant()
    await use(client, fake_llm, capped, free)
    after = await scrape(client)  # fresh tenants: their series start here

    for tenant, complete, error, refused in [(capped, 1, 0, 1), (free, 2, 1, 0)]:
        slug = tenant.slug
        assert value(after, "cip_answers_total", tenant=slug, status="complete") == complete
        assert value(after, "cip_answers_total", tenant=slug, status="error") == error
        assert value(after, "cip_quota_refusals_total", tenant=slug) == refused
        prompt, completion = await usage_of(pool, tenant)
        assert value(after, "cip_tokens_total", tenant=slug, kind="prompt") == prompt > 0
        assert value(after, "cip_tokens_total", tenant=slug, kind="completion") == completion > 0
    # Every sample of those families names its tenant, and no other metric names one.
    named = {
        re.sub(r"_(total|created)$", "", name) for name, labels in after if "tenant" in dict(labels)
    }
    assert named == set(TENANT_FAMILIES)
    assert all(
        "tenant" in dict(labels)
        for name, labels in after
        if re.sub(r"_(total|created)$", "", name) in TENANT_FAMILIES
    )


async def test_without_the_tenant_label_every_tenant_adds_up(
    start_client: StartClient, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    client = await start_client()  # tenant_label = false, the default
    capped, free = await new_tenant(monthly_answer_quota=1), await new_tenant()
    before = await scrape(client)
    await use(client, fake_llm, capped, free)
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("cip_answers_total", status="complete") == 3
    assert grew("cip_answers_total", status="error") == 1
    assert grew("cip_quota_refusals_total") == 1
    used = [await usage_of(pool, tenant) for tenant in (capped, free)]
    assert grew("cip_tokens_total", kind="prompt") == sum(prompt for prompt, _ in used)
    assert grew("cip_tokens_total", kind="completion") == sum(done for _, done in used)
    assert not any(dict(labels).get("tenant") is not None for _, labels in after)


async def test_a_mail_given_up_is_counted(start_client: StartClient, new_tenant: NewTenant) -> None:
    """A relay that refuses every connection: the one attempt fails, the mail is dropped."""
    client = await start_client(smtp={"host": "127.0.0.1", "port": free_port(), "retries": 0})
    tenant = await new_tenant()
    before = value(await scrape(client), "cip_mail_failures_total")
    email = f"{uuid.uuid4().hex}@example.com"
    registered = await client.post(
        f"/api/v1/tenants/{tenant.id}/register",
        json={"email": email, "password": "a long enough password"},
    )
    assert registered.status == 202, await registered.text()
    async with asyncio.timeout(GUARD_SECONDS):
        while value(await scrape(client), "cip_mail_failures_total") == before:
            await asyncio.sleep(0.02)
    after = await scrape(client)
    assert value(after, "cip_mail_failures_total") - before == 1
    assert value(after, "cip_mail_queue_length") == 0


async def test_metrics_are_a_404_page_to_an_address_not_allowed(
    start_client: StartClient,
) -> None:
    """The test client is 127.0.0.1, outside the list; a forged X-Forwarded-For, even through
    a trusted proxy, does not open it: only the TCP peer counts."""
    client = await start_client(
        metrics={"allow": ["10.0.0.0/8"]}, server={"trusted_proxies": ["127.0.0.1"]}
    )
    nobody = await client.get("/no-such-tenant")
    assert nobody.status == 404
    for headers in ({}, {"X-Forwarded-For": "10.1.2.3"}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status == 404
        assert refused.headers["Content-Type"] == nobody.headers["Content-Type"]
        assert await refused.text() == await nobody.text()


async def test_an_empty_allow_list_turns_metrics_off(start_client: StartClient) -> None:
    client = await start_client(metrics={"allow": []})
    assert (await client.get("/metrics")).status == 404


async def test_every_workers_requests_add_up_whichever_worker_answers(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    """Requests on fresh connections until both workers have answered some; then scrapes
    until both have answered one: each reports every request, its own and the other's."""
    server = make_process_server()
    await server.start("--workers", "2")
    labels = {"route": BY_SLUG, "method": "GET", "status": "200"}
    sent, served_by = 0, set[int]()
    async with asyncio.timeout(GUARD_SECONDS):
        while len(served_by) < 2:
            served_by.add(await server.answered_by())
            sent += 1
        scraped_by = set[int]()
        while len(scraped_by) < 2:
            request_id = uuid.uuid4().hex
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(
                    f"{server.url}/metrics", headers={"X-Request-Id": request_id}
                ) as response,
            ):
                assert response.status == 200
                samples = parse(await response.text())
            assert value(samples, "cip_http_requests_total", **labels) == sent
            while (pid := server.logged(request_id)) is None:
                await asyncio.sleep(0.02)
            scraped_by.add(pid)
    assert served_by == scraped_by == set(server.workers().values())


async def test_every_workers_answers_add_up_by_tenant(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    """Chats on fresh connections until both workers have answered some: a scrape counts
    every answer and its tokens (the fake's usage) under the tenant, whichever worker wrote
    it."""
    server = make_process_server(metrics={"tenant_label": True})
    await server.start("--workers", "2")
    sent, served_by = 0, set[int]()
    async with asyncio.timeout(GUARD_SECONDS), aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}{BY_SLUG.format(slug=TENANT_SLUG)}") as found:
            tenant_id = (await found.json())["id"]
        while len(served_by) < 2:
            request_id = uuid.uuid4().hex
            async with session.post(
                f"{server.url}{CHAT.format(tenant_id=tenant_id)}",
                json={"user_id": guest(), "message": "hello"},
                headers={"X-Request-Id": request_id, "Connection": "close"},
            ) as response:
                assert response.status == 200, await response.text()
                assert "done" in {name for name, _ in parse_sse(await response.text())}
            sent += 1
            while (pid := server.logged(request_id)) is None:
                await asyncio.sleep(0.02)
            served_by.add(pid)
        async with session.get(f"{server.url}/metrics") as response:
            samples = parse(await response.text())
    tenant = {"tenant": TENANT_SLUG}
    assert value(samples, "cip_answers_total", **tenant, status="complete") == sent
    assert (
        value(samples, "cip_tokens_total", **tenant, kind="prompt") == sent * USAGE["prompt_tokens"]
    )
    assert value(samples, "cip_tokens_total", **tenant, kind="completion") == (
        sent * USAGE["completion_tokens"]
    )


async def test_the_dashboard_asks_only_for_metrics_the_service_has(
    start_client: StartClient,
) -> None:
    """Every metric a panel of grafana-dashboard.json queries is in a scrape."""
    client = await start_client()
    response = await client.get("/metrics")
    families = {family.name for family in text_string_to_metric_families(await response.text())}
    dashboard = json.loads((ROOT / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queried = {
        re.sub(r"_(bucket|total|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bcip_[a-z_]+", target["expr"])
    }
    assert queried and queried <= families, queried - families


def metrics_directory(pid: int) -> Path:
    """The directory a worker writes its metrics into, from its environment."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (path,) = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(MULTIPROC)]
    return Path(path.decode())


async def test_a_dead_workers_gauges_go_and_the_directory_goes_with_the_supervisor(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    """A killed worker is marked dead when reaped: its gauges' file goes, its counters stay
    (they still add up). The supervisor removes the directory when it exits."""
    server = make_process_server()
    await server.start("--workers", "2")
    async with asyncio.timeout(GUARD_SECONDS):
        await server.pids_answering(2)
        killed, survivor = server.workers()[1], server.workers()[2]
        directory = metrics_directory(killed)
        assert metrics_directory(survivor) == directory
        assert (directory / f"gauge_livesum_{killed}.db").exists()
        os.kill(killed, signal.SIGKILL)
        while (directory / f"gauge_livesum_{killed}.db").exists():
            await asyncio.sleep(0.02)
        assert (directory / f"counter_{killed}.db").exists()
        assert (directory / f"gauge_livesum_{survivor}.db").exists()
        server.send(signal.SIGTERM)
        assert await server.wait_exit() == 0
    assert not directory.exists()


async def test_the_proxy_does_not_relay_metrics(
    make_process_server: Callable[..., ProcessServer],
    start_proxy: Callable[..., Awaitable[Proxy]],
) -> None:
    """nginx on the same machine reaches the instance from 127.0.0.1, which the default list
    allows: the repository's nginx.conf.template answers /metrics itself."""
    server = make_process_server()
    await server.start()
    proxy = await start_proxy(server)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/metrics") as direct:
            assert direct.status == 200
        async with session.get(f"{proxy.url}/metrics") as relayed:
            assert relayed.status == 404
        async with session.get(f"{proxy.url}/healthz") as probe:  # the proxy does relay
            assert probe.status == 200
