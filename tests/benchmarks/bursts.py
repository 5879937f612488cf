"""Bursts: N visitors asking at the same instant, the way a website sees a campaign link land.

Each burst is one `asyncio.gather` of N chats, read to their ends. Visitors are either new
(a guest id never seen, one per chat) or returning (ids that chatted once before the burst).
The direct side asks the fake DeepSeek with the same burst, in the same round, so what CIP
adds is read against the fake's own spread on this machine. A chat answered 503 with
`Retry-After` is asked again after that many seconds, as the page does; its time to first
token counts from the first attempt.

"Chat starts per second" is the burst's size over the time CIP added to the burst's last
first token (its own, minus the direct burst's): how fast CIP lets a crowd in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import orjson
from fake_deepseek import DELTAS
from load import Chat, Side, chat_once, percentile
from suites import MS, Row

SIZES = (10, 100, 1000)
# (p50, p99) most added to the time to first token, and whether a burst may lose chats.
TARGETS: dict[int, tuple[float, float]] = {10: (0.010, 0.025), 100: (0.100, 0.200), 1000: (0, 3.0)}


@dataclass
class Burst:
    """One burst as its clients saw it."""

    chats: list[Chat]
    retried: int

    @property
    def ttfts(self) -> list[float]:
        return [chat.ttft for chat in self.chats if chat.ttft is not None]

    @property
    def failures(self) -> list[str]:
        return [chat.error for chat in self.chats if chat.error]

    @property
    def last_first_token(self) -> float:
        return max(self.ttfts, default=float("nan"))


async def _patient_chat(session: aiohttp.ClientSession, side: Side, n: int) -> tuple[Chat, int]:
    """One chat, asked again after `Retry-After` while it is answered 503 (at most 5 times);
    its TTFT from the first attempt."""
    started = time.perf_counter()
    retried = 0
    while True:
        attempt = time.perf_counter()
        chat = await chat_once(session, side, n, expected_deltas=DELTAS)
        if chat.error != "HTTP 503" or retried == 5:
            break
        retried += 1
        await asyncio.sleep(chat.retry_after or 1.0)
    if chat.ttft is not None:
        chat.ttft += attempt - started
    return chat, retried


async def burst(session: aiohttp.ClientSession, side: Side, size: int) -> Burst:
    done = await asyncio.gather(*(_patient_chat(session, side, n) for n in range(size)))
    return Burst([chat for chat, _ in done], sum(retried for _, retried in done))


def visitors(side: Side, ids: Callable[[int], str]) -> Side:
    """CIP's chat side, the n-th chat asked by visitor `ids(n)` in a dialog of its own."""

    def body(n: int) -> bytes:
        return orjson.dumps({"user_id": ids(n), "message": f"Question number {n}?"})

    return dataclasses.replace(side, body=body)


def _spread(values: Sequence[float], unit: float = MS, digits: int = 1) -> str:
    """The median of per-round figures, with their min and max in brackets."""
    med, low, high = statistics.median(values), min(values), max(values)
    return f"{med * unit:.{digits}f} ({low * unit:.{digits}f}–{high * unit:.{digits}f})"


async def bursts(
    session: aiohttp.ClientSession,
    pair: tuple[Side, Side],
    *,
    rounds: int,
    sizes: Sequence[int] = SIZES,
) -> list[Row]:
    """For each size: `rounds` rounds of a direct burst, a burst of new visitors and one of
    returning visitors, in rotating order; per round the TTFT CIP added at p50 and p99 (its
    burst's percentile minus the direct burst's), reported as the median of the rounds with
    their min and max."""
    direct, cip = pair
    rows: list[Row] = []
    for size in sizes:
        returning_ids = [f"returning-{uuid.uuid4()}" for _ in range(size)]
        new = visitors(cip, lambda n: str(uuid.uuid4()))
        returning = visitors(cip, returning_ids.__getitem__)
        returning = dataclasses.replace(returning, name="returning")
        new = dataclasses.replace(new, name="new")
        await burst(session, returning, size)  # their first visit, not measured
        seen: dict[str, list[Burst]] = {"direct": [], "new": [], "returning": []}
        order = (direct, new, returning)
        for index in range(rounds):
            turn = order[index % 3 :] + order[: index % 3]
            for side in turn:
                seen[side.name].append(await burst(session, side, size))
        rows += _rows(size, seen)
    return rows


def _rows(size: int, seen: dict[str, list[Burst]]) -> list[Row]:
    p50_limit, p99_limit = TARGETS[size]
    rows: list[Row] = []
    directs = seen["direct"]
    for kind in ("new", "returning"):
        added = {
            q: [
                percentile(ours.ttfts, q) - percentile(theirs.ttfts, q)
                for ours, theirs in zip(seen[kind], directs, strict=True)
            ]
            for q in (50, 99)
        }
        failures = [error for one in seen[kind] for error in one.failures]
        retried = sum(one.retried for one in seen[kind])
        lag = [
            ours.last_first_token - theirs.last_first_token
            for ours, theirs in zip(seen[kind], directs, strict=True)
        ]
        rate = [size / seconds for seconds in lag if seconds > 0]
        p50, p99 = statistics.median(added[50]), statistics.median(added[99])
        met = p99 <= p99_limit and (p50_limit == 0 or p50 <= p50_limit) and not failures
        target = (
            f"≤ {p50_limit * MS:.0f} / {p99_limit * MS:.0f} ms"
            if p50_limit
            else f"0 failed, p99 ≤ {p99_limit:.0f} s"
        )
        direct_p99 = statistics.median([percentile(one.ttfts, 99) for one in directs])
        rows.append(
            Row(
                f"Burst of {size:,} {kind} visitors at once: TTFT added p50 / p99, "
                f"median (min–max) of {len(directs)}",
                target,
                f"{_spread(added[50])} / {_spread(added[99])} ms (direct p99 "
                f"{direct_p99 * MS:.0f} ms); {len(failures)} failed"
                + (f" ({failures[0]})" if failures else "")
                + (f"; {retried} retried after 503" if retried else ""),
                met,
            )
        )
        rows.append(
            Row(
                f"Burst of {size:,} {kind} visitors: chat starts per second (size over the "
                "time added to the last first token)",
                "reported",
                (_spread(rate, unit=1, digits=0) + "/s") if rate else "no time added",
                None,
            )
        )
    return rows


async def workers(
    session: aiohttp.ClientSession,
    direct: Side,
    apps: dict[int, Side],
    *,
    size: int,
    rounds: int,
) -> list[Row]:
    """A burst of `size` new visitors against apps with each number of worker processes (and
    the fake directly), in rotating order; the TTFT each added at p99, median of the rounds."""
    sides = {"direct": direct} | {
        f"{count} worker" + "s" * (count > 1): visitors(app, lambda n: str(uuid.uuid4()))
        for count, app in apps.items()
    }
    seen: dict[str, list[Burst]] = {name: [] for name in sides}
    names = list(sides)
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            seen[name].append(await burst(session, sides[name], size))
    added = {
        name: [
            percentile(ours.ttfts, 99) - percentile(theirs.ttfts, 99)
            for ours, theirs in zip(seen[name], seen["direct"], strict=True)
        ]
        for name in names[1:]
    }
    failed = {name: sum(len(one.failures) for one in seen[name]) for name in names[1:]}
    (one, many) = names[1:]
    better = statistics.median(added[many]) < statistics.median(added[one])
    return [
        Row(
            f"Burst of {size:,} new visitors: TTFT added p99, {one} vs {many}, median "
            f"(min–max) of {rounds}",
            f"{many} lower",
            f"{_spread(added[one])} vs {_spread(added[many])} ms; failed "
            f"{failed[one]} vs {failed[many]}",
            better and not any(failed.values()),
        )
    ]
