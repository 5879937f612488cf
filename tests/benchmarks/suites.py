"""The benchmarks. Each measures two sides in one run, interleaved round by round (the machine
is shared and noisy, so a ratio of neighbours means more than two separate runs), and returns
rows for the one table: what is measured, the target, the figure, and whether it passed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import orjson
from fake_deepseek import DELTAS
from load import (
    Chat,
    Gets,
    Side,
    chat_once,
    cip_delta,
    closed_loop,
    get_loop,
    percentile,
    raw_get_loop,
    upstream_delta,
)
from processes import Process
from seed import CABINET_VISITOR, LOGIN_PASSWORD, CabinetTenant

MS = 1000.0
VISIT_CHATS = 5
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    benchmark: str
    target: str
    measured: str
    passed: bool | None  # None: reported, no target
    # The figure a target judges (lower is better), in `unit`s, so that `make bench` can report
    # the median of its runs; a row with a target passes when that median is within `limit`
    # and no run had `errors`.
    value: float | None = None
    unit: str = ""
    limit: float | None = None
    errors: int = 0


def sides(cip_url: str, llm_url: str, tenant_id: uuid.UUID, prompt: str) -> tuple[Side, Side]:
    """The fake asked directly (with the body CIP would send it), and CIP's chat route."""
    run_id = uuid.uuid4()

    def upstream_body(n: int) -> bytes:
        return orjson.dumps(
            {
                "model": "deepseek-chat",
                "temperature": 0.7,
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [
                    {"role": "system", "content": prompt},
                    {"role": "user", "content": f"Question number {n}?"},
                ],
            }
        )

    def cip_body(n: int) -> bytes:
        # Guest ids as pages make them (UUIDs); each visitor asks VISIT_CHATS questions.
        visitor = uuid.uuid5(run_id, str(n // VISIT_CHATS))
        return orjson.dumps({"user_id": str(visitor), "message": f"Question number {n}?"})

    direct = Side(
        "direct",
        llm_url + "/chat/completions",
        upstream_body,
        {"Authorization": "Bearer bench-key", "Content-Type": "application/json"},
        upstream_delta,
    )
    through = Side(
        "cip",
        f"{cip_url}/api/v1/tenants/{tenant_id}/chat",
        cip_body,
        {"Content-Type": "application/json"},
        cip_delta,
    )
    return direct, through


STREAMS_FOR_PARTS = 1000


def alternating(rounds: int, pair: Sequence[T]) -> Iterable[T]:
    """direct, cip, cip, direct, direct, cip, ...: neither side always goes first."""
    for index in range(rounds):
        yield from pair if index % 2 == 0 else reversed(pair)


def _errors(chats: list[Chat]) -> list[str]:
    return [chat.error for chat in chats if chat.error]


def _ms(value: float) -> str:
    return f"{value * MS:.1f} ms"


# --- 1. time to first token ------------------------------------------------------------------


async def time_to_first_token(
    session: aiohttp.ClientSession,
    pair: tuple[Side, Side],
    *,
    single_rounds: int,
    loaded_rounds: int,
) -> list[Row]:
    rows: list[Row] = []
    for concurrency in (1, 100):
        seen: dict[str, list[Chat]] = {side.name: [] for side in pair}
        if concurrency == 1:
            # One chat at a time, read to its first token and closed: many samples quickly.
            for index, side in enumerate(alternating(single_rounds, pair)):
                seen[side.name].append(
                    await chat_once(
                        session, side, index, expected_deltas=DELTAS, first_token_only=True
                    )
                )
        else:
            # 100 clients each chatting back to back, starts spread over one answer's length.
            for side in alternating(loaded_rounds, pair):
                seen[side.name] += await closed_loop(
                    session, side, workers=100, duration=5.0, ramp=2.2, expected_deltas=DELTAS
                )
        ttft = _ttfts(seen)
        failures = _errors(seen["cip"]) + _errors(seen["direct"])
        for q, limit in ((50, 0.005), (99, 0.015)):
            added = percentile(ttft["cip"], q) - percentile(ttft["direct"], q)
            rows.append(
                Row(
                    f"TTFT added by CIP, p{q}, {concurrency} concurrent "
                    f"chat{'s' * (concurrency > 1)}",
                    f"≤ {limit * MS:.0f} ms",
                    f"{_ms(added)} ({_ms(percentile(ttft['cip'], q))} vs "
                    f"{_ms(percentile(ttft['direct'], q))} direct, n={len(ttft['cip'])})",
                    added <= limit and not failures,
                    value=added * MS,
                    unit=" ms",
                    limit=limit * MS,
                    errors=len(failures),
                )
            )
        if failures:
            rows.append(
                Row(f"TTFT errors, {concurrency} concurrent", "0", str(len(failures)), False)
            )
    return rows


# --- 2. concurrent streams -------------------------------------------------------------------


async def burst(session: aiohttp.ClientSession, side: Side, streams: int) -> list[Chat]:
    """`streams` chats, all started within a second, each read to its end."""
    return await closed_loop(
        session, side, workers=streams, duration=0, ramp=1.0, expected_deltas=DELTAS, single=True
    )


def _ttfts(seen: dict[str, list[Chat]]) -> dict[str, list[float]]:
    return {
        name: [chat.ttft for chat in chats if chat.ttft is not None] for name, chats in seen.items()
    }


def _gaps(seen: dict[str, list[Chat]]) -> dict[str, list[float]]:
    return {name: [gap for chat in chats for gap in chat.gaps] for name, chats in seen.items()}


async def sample_rss(process: Process, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], process.rss_bytes())
        await asyncio.sleep(0.05)


async def concurrent_streams(
    session: aiohttp.ClientSession,
    pair: tuple[Side, Side],
    server: Process,
    *,
    streams: int,
    rounds: int,
) -> list[Row]:
    seen: dict[str, list[Chat]] = {side.name: [] for side in pair}
    idle = server.rss_bytes()
    peak = [idle]
    for side in alternating(rounds, pair):
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, peak, stop))
        seen[side.name] += await burst(session, side, streams)
        stop.set()
        await sampler
    gaps, ttft = _gaps(seen), _ttfts(seen)
    failures = _errors(seen["cip"])
    stretch = percentile(gaps["cip"], 99) - percentile(gaps["direct"], 99)
    mib = 1024 * 1024
    return [
        Row(
            f"{streams} concurrent streams: errors",
            "0",
            f"{len(failures)} of {len(seen['cip'])}" + (f" ({failures[0]})" if failures else ""),
            not failures,
            value=len(failures),
            limit=0,
        ),
        Row(
            f"{streams} concurrent streams: delta gap p99 stretch",
            "≤ 50 ms",
            f"{_ms(stretch)} ({_ms(percentile(gaps['cip'], 99))} vs "
            f"{_ms(percentile(gaps['direct'], 99))} direct; direct errors "
            f"{len(_errors(seen['direct']))})",
            stretch <= 0.05 and not failures,
            value=stretch * MS,
            unit=" ms",
            limit=50,
            errors=len(failures),
        ),
        Row(
            f"{streams} concurrent streams: TTFT p50 (all started within 1 s)",
            "reported",
            f"{_ms(percentile(ttft['cip'], 50))} vs {_ms(percentile(ttft['direct'], 50))} direct",
            None,
            value=percentile(ttft["cip"], 50) * MS,
            unit=" ms",
        ),
        Row(
            f"{streams} concurrent streams: server peak RSS",
            "reported",
            f"{peak[0] / mib:.0f} MiB (idle {idle / mib:.0f} MiB)",
            None,
            value=peak[0] / mib,
            unit=" MiB",
        ),
        Row(
            f"{streams} concurrent streams: memory per open stream",
            "reported",
            f"{(peak[0] - idle) / streams / 1024:.0f} KiB",
            None,
        ),
    ]


async def durable_parts(
    session: aiohttp.ClientSession,
    memory: Side,
    durable: Side,
    *,
    flush_interval: float,
    rounds: int,
) -> list[Row]:
    """What sharing answers in flight through the database costs the streaming path: the same
    bursts of streams (100, then 1,000, all started within a second) against an app that keeps
    them in memory only and one that appends them every `flush_interval`, in alternating
    rounds; TTFT and the delta gap's p99, one against the other."""
    rows: list[Row] = []
    for streams in (100, STREAMS_FOR_PARTS):
        seen: dict[str, list[Chat]] = {memory.name: [], durable.name: []}
        for side in alternating(rounds, (memory, durable)):
            seen[side.name] += await burst(session, side, streams)
        failures = {name: _errors(chats) for name, chats in seen.items()}
        failed = sum(map(len, failures.values()))
        ttft, gaps = _ttfts(seen), _gaps(seen)

        def versus(values: dict[str, list[float]], q: int) -> str:
            paid, free = percentile(values[durable.name], q), percentile(values[memory.name], q)
            return f"{_ms(paid)} vs {_ms(free)} ({(paid - free) * MS:+.1f} ms)"

        rows += [
            Row(
                f"Durable parts ({flush_interval} s appends), {streams} streams: TTFT p50 / p99,"
                " durable vs memory only",
                "reported",
                f"{versus(ttft, 50)} / {versus(ttft, 99)}",
                None,
            ),
            Row(
                f"Durable parts, {streams} streams: delta gap p99, durable vs memory only",
                "reported",
                versus(gaps, 99),
                None,
            ),
            Row(
                f"Durable parts, {streams} streams: failed chats, durable / memory only",
                "0",
                f"{len(failures[durable.name])} / {len(failures[memory.name])} of "
                f"{len(seen[durable.name])} each"
                + (f" ({next(e for f in failures.values() for e in f)})" if failed else ""),
                not failed,
            ),
        ]
    return rows


# --- 3. cabinet reads ------------------------------------------------------------------------


async def cabinet_reads(
    session: aiohttp.ClientSession,
    cip_url: str,
    small: CabinetTenant,
    large: CabinetTenant,
    *,
    rounds: int,
    workers: int,
    round_seconds: float,
) -> list[Row]:
    headers = {"X-User-Id": CABINET_VISITOR}
    rows: list[Row] = []
    for route, path in (
        ("GET /me/dialogs", "me/dialogs"),
        ("GET /me/dialogs/{id}", "me/dialogs/{dialog_id}"),
    ):
        gets = {small.messages: Gets(), large.messages: Gets()}
        for index in range(rounds):
            for tenant in (small, large) if index % 2 == 0 else (large, small):
                url = f"{cip_url}/api/v1/tenants/{tenant.tenant_id}/" + path.format(
                    dialog_id=tenant.dialog_id
                )
                gets[tenant.messages] += await get_loop(
                    session, url, headers, workers=workers, duration=round_seconds
                )
        latencies = {size: seen.latencies for size, seen in gets.items()}
        failures = sum(seen.failures for seen in gets.values())
        small_p50 = percentile(latencies[small.messages], 50)
        large_p50 = percentile(latencies[large.messages], 50)
        ratio = large_p50 / small_p50
        rate = {size: len(values) / (rounds * round_seconds) for size, values in latencies.items()}
        rows.append(
            Row(
                f"{route}: 1M-message tenant vs 1k, p50 latency",
                "≤ 1.3×",
                f"{ratio:.2f}× ({_ms(large_p50)} vs {_ms(small_p50)}; p99 "
                f"{_ms(percentile(latencies[large.messages], 99))} vs "
                f"{_ms(percentile(latencies[small.messages], 99))})",
                ratio <= 1.3 and not failures,
                value=ratio,
                unit="×",
                limit=1.3,
                errors=failures,
            )
        )
        rows.append(
            Row(
                f"{route}: requests per second ({workers} clients)",
                "reported",
                f"{rate[large.messages]:.0f}/s (1M) · {rate[small.messages]:.0f}/s (1k)"
                + (f"; {failures} failed" if failures else ""),
                None,
            )
        )
    return rows


# --- 4. isolation from logins ----------------------------------------------------------------


async def _logins(
    session: aiohttp.ClientSession, url: str, emails: list[str], until: Callable[[], bool]
) -> list[int]:
    statuses: list[int] = []

    async def worker(email: str) -> None:
        body = orjson.dumps({"email": email, "password": LOGIN_PASSWORD})
        while not until():
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                statuses.append(response.status)

    await asyncio.gather(*(worker(email) for email in emails))
    return statuses


async def isolation(
    session: aiohttp.ClientSession,
    pair: tuple[Side, Side],
    login_url: str,
    emails: list[str],
    *,
    streams: int,
    rounds: int,
) -> list[Row]:
    cip = pair[1]
    gaps: dict[bool, list[float]] = {False: [], True: []}
    statuses: list[int] = []
    failures: list[str] = []
    for index in range(rounds * 2):
        with_logins = index % 4 in (1, 2)  # quiet, logins, logins, quiet, ...
        logins_done = asyncio.Event()
        chats_task: Awaitable[list[Chat]] = closed_loop(
            session, cip, workers=streams, duration=0, ramp=1.0, expected_deltas=DELTAS, single=True
        )
        if with_logins:
            logins = _logins(session, login_url, emails, logins_done.is_set)
            login_task = asyncio.create_task(logins)
            chats = await chats_task
            logins_done.set()
            statuses += await login_task
        else:
            chats = await chats_task
        failures += _errors(chats)
        gaps[with_logins] += [gap for chat in chats for gap in chat.gaps]
    quiet, busy = percentile(gaps[False], 99), percentile(gaps[True], 99)
    ratio = busy / quiet
    ok_logins = statuses.count(200)
    return [
        Row(
            f"Delta gap p99 of {streams} streams during {len(emails)} concurrent logins vs none",
            "≤ 2×",
            f"{ratio:.2f}× ({_ms(busy)} vs {_ms(quiet)}; {ok_logins} logins ok of {len(statuses)})",
            ratio <= 2 and not failures and ok_logins == len(statuses),
            value=ratio,
            unit="×",
            limit=2,
            errors=len(failures) + len(statuses) - ok_logins,
        )
    ]


# --- 5. worker processes ---------------------------------------------------------------------


async def workers_throughput(
    urls: dict[int, str], *, clients: int, rounds: int, round_seconds: float
) -> list[Row]:
    """One cheap GET (the tenant is cached: no database) against `cip serve` with each number
    of workers in `urls`, rounds alternating, from the light client (`raw_get_loop`). Each
    round opens connections of its own, which the kernel spreads over the workers as they
    are made."""
    path = "/api/v1/tenants/by-slug/demo"
    gets = {workers: Gets() for workers in urls}
    for workers in alternating(rounds, list(urls)):
        gets[workers] += await raw_get_loop(
            urls[workers] + path, clients=clients, duration=round_seconds
        )
    rate = {n: len(seen.latencies) / (rounds * round_seconds) for n, seen in gets.items()}
    one, two = sorted(urls)
    failures = "".join(seen.describe_failures() for seen in gets.values())
    return [
        Row(
            f"GET /tenants/by-slug/{{slug}}: requests per second ({clients} clients), "
            f"{one} worker vs {two}",
            "reported",
            f"{rate[one]:.0f}/s vs {rate[two]:.0f}/s ({rate[two] / rate[one]:.2f}×; p50 "
            f"{_ms(percentile(gets[one].latencies, 50))} vs "
            f"{_ms(percentile(gets[two].latencies, 50))})" + failures,
            None,
        )
    ]
