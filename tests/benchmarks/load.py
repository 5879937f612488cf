"""The load generator's primitives: one streamed chat timed as its client sees it, closed-loop
workers, timed GETs, and percentiles.

A chat is timed from just before its request is sent: the time to its first answer delta,
then every gap between deltas as they arrive. Both sides of a comparison are read by the same
code: the fake DeepSeek's chunks directly, or CIP's `data: {"content": ...}` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

DONE = b"data: [DONE]"
_CONTENT_LENGTH = re.compile(rb"content-length: *([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Side:
    """Where a chat goes and how its answer deltas look on the wire."""

    name: str
    url: str
    body: Callable[[int], bytes]  # the request body of the n-th chat
    headers: dict[str, str]
    is_delta: Callable[[bytes], bool]


def upstream_delta(event: bytes) -> bool:
    return b'"content": "' in event and b'"content": ""' not in event


def cip_delta(event: bytes) -> bool:
    """A text event: an `id:` line, then its data."""
    return event.startswith(b"id: ") and b'\ndata: {"content"' in event


@dataclass
class Chat:
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    deltas: int = 0
    error: str | None = None
    retry_after: float | None = None  # a refusal's Retry-After, in seconds


async def chat_once(
    session: aiohttp.ClientSession,
    side: Side,
    n: int,
    *,
    expected_deltas: int,
    first_token_only: bool = False,
) -> Chat:
    """One chat, read to its end (or only to its first delta, then closed: the stop button)."""
    result = Chat()
    started = time.perf_counter()
    last = started
    pending = b""
    finished = False
    try:
        async with session.post(side.url, data=side.body(n), headers=side.headers) as response:
            if response.status != 200:
                result.error = f"HTTP {response.status}"
                with contextlib.suppress(KeyError, ValueError):
                    result.retry_after = float(response.headers["Retry-After"])
                return result
            while True:
                chunk = await response.content.readany()
                if not chunk:
                    break
                now = time.perf_counter()
                *events, pending = (pending + chunk).split(b"\n\n")
                for event in events:
                    if side.is_delta(event):
                        if result.deltas:
                            result.gaps.append(now - last)
                        else:
                            result.ttft = now - started
                        result.deltas += 1
                        last = now
                    elif event == DONE:
                        finished = True
                if first_token_only and result.deltas:
                    response.close()
                    return result
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    if result.deltas != expected_deltas or not finished:
        result.error = f"{result.deltas} deltas, finished={finished}"
    return result


async def closed_loop(
    session: aiohttp.ClientSession,
    side: Side,
    *,
    workers: int,
    duration: float,
    ramp: float,
    expected_deltas: int,
    first_token_only: bool = False,
    single: bool = False,
) -> list[Chat]:
    """`workers` clients, started evenly over `ramp` seconds; each starts a new chat when its
    last one ends, until `duration` has passed (`single`: one chat each)."""
    chats: list[Chat] = []
    counter = iter(range(1 << 62))
    start = time.perf_counter()

    async def worker(index: int) -> None:
        await asyncio.sleep(ramp * index / workers)
        while True:
            chats.append(
                await chat_once(
                    session,
                    side,
                    next(counter),
                    expected_deltas=expected_deltas,
                    first_token_only=first_token_only,
                )
            )
            if single or time.perf_counter() - start >= duration:
                return

    await asyncio.gather(*(worker(index) for index in range(workers)))
    return chats


@dataclass
class Gets:
    """GETs as their client saw them: each one's latency, and how many got each status."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        return self.statuses.total() - self.statuses[200]

    def describe_failures(self) -> str:
        """Each status but 200 with its count ("; 3 answered 429"); "" when all were 200."""
        failed = sorted((status, n) for status, n in self.statuses.items() if status != 200)
        return "".join(f"; {n} answered {status}" for status, n in failed)

    def __iadd__(self, other: Gets) -> Gets:
        self.latencies += other.latencies
        self.statuses += other.statuses
        return self


async def timed_get(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], gets: Gets
) -> bytes:
    """One GET, read to its end and counted in `gets`; its body."""
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        body = await response.read()
    gets.latencies.append(time.perf_counter() - started)
    gets.statuses[response.status] += 1
    return body


async def get_loop(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    *,
    workers: int,
    duration: float,
    pause: float = 0.0,
) -> Gets:
    """`workers` clients GETting `url` back to back (`pause` seconds apart) for `duration`."""
    gets = Gets()
    end = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < end:
            await timed_get(session, url, headers, gets)
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return gets


async def raw_get_loop(url: str, *, clients: int, duration: float) -> Gets:
    """`clients` connections GETting `url` back to back for `duration`, over plain sockets
    (HTTP/1.1 keep-alive, each answer read by its Content-Length): about a third of the CPU
    per request of aiohttp's client, so on a small machine the server, not the load
    generator, is what runs out of CPU."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    request = f"GET {address.path} HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode()
    gets = Gets()
    end = time.perf_counter() + duration

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < end:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                await reader.readexactly(int(length[1]) if length else 0)
                gets.latencies.append(time.perf_counter() - started)
                gets.statuses[int(head[9:12])] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return gets


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def client_session(limit: int = 0) -> aiohttp.ClientSession:
    """A session with no connection cap and no read timeout of its own (streams are long)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=120, sock_connect=10),
    )
