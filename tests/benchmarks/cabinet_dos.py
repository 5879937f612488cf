"""Long dialogs in the cabinet: what one reader of a dialog view, or of the saved list, costs
when the answers are long markdown, and what readers of a 2,500-turn dialog cost everyone else
(`/healthz` beside them).

The rows are seeded with SQL and no HTML, as answers stored before their HTML was kept: a
page's first reader renders its answers and stores them. So first reads are timed apart from
the reads after them; before each first read the case's HTML is cleared again with SQL (the
first of them finds the rows as seeded). Cases alternate order round by round.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from uuid import UUID

import aiohttp
import asyncpg
import orjson
from load import Gets, get_loop, percentile, timed_get
from seed import CABINET_VISITOR, LongDialogs
from suites import MS, Row, alternating

LONG_TURNS = 2_500
SHORT_TURNS = 40
SAVED = 40
READERS = 8  # clients reading the long dialog in a loop while /healthz is probed
PROBE_PAUSE = 0.01  # between two /healthz probes of the one probing client
HEADERS = {"X-User-Id": CABINET_VISITOR}


@dataclass(frozen=True)
class Case:
    label: str
    url: str
    dialog_id: UUID  # the dialog whose answers this read renders
    first: Gets = field(default_factory=Gets)
    after: Gets = field(default_factory=Gets)


@dataclass(frozen=True)
class Shown:
    """What a case's response held."""

    size: int
    items: int
    has_more: bool | None  # None for the saved list (it pages by offset)


async def clear_html(connection: asyncpg.Connection, tenant_id: UUID, dialog_id: UUID) -> None:
    await connection.execute(
        "UPDATE message SET html = NULL "
        "WHERE tenant_id = $1 AND dialog_id = $2 AND html IS NOT NULL",
        tenant_id,
        dialog_id,
    )


def cabinet_url(cip_url: str, data: LongDialogs) -> str:
    return f"{cip_url}/api/v1/tenants/{data.tenant_id}/me"


def dialog_url(cip_url: str, data: LongDialogs, turns: int) -> str:
    return f"{cabinet_url(cip_url, data)}/dialogs/{data.dialogs[turns]}"


def cases(cip_url: str, data: LongDialogs) -> list[Case]:
    found = [
        Case(
            f"GET /me/dialogs/{{id}}, {turns:,} turns, {page}",
            dialog_url(cip_url, data, turns) + query,
            data.dialogs[turns],
        )
        for turns in (SHORT_TURNS, LONG_TURNS)
        for query, page in (("", "default page"), ("?limit=100", "?limit=100"))
    ]
    saved = Case(
        f"GET /me/saved?limit=100, {data.saved} long answers saved",
        f"{cabinet_url(cip_url, data)}/saved?limit=100",
        data.saved_dialog_id,
    )
    return [*found, saved]


def shown(body: bytes) -> Shown:
    page = orjson.loads(body)
    if "messages" in page:
        return Shown(len(body), len(page["messages"]), page["has_more"])
    return Shown(len(body), len(page.get("items", ())), None)


async def reads(
    session: aiohttp.ClientSession,
    connection: asyncpg.Connection,
    tenant_id: UUID,
    found: list[Case],
    *,
    first_reads: int,
    rounds: int,
    per_round: int,
) -> dict[str, Shown]:
    """Each case's first reads (HTML cleared before each), then its later reads."""
    seen: dict[str, Shown] = {}
    for case in alternating(first_reads, found):
        await clear_html(connection, tenant_id, case.dialog_id)
        seen[case.label] = shown(await timed_get(session, case.url, HEADERS, case.first))
    for case in alternating(rounds, found):
        for _ in range(per_round):
            await timed_get(session, case.url, HEADERS, case.after)
    return seen


async def healthz_beside_readers(
    session: aiohttp.ClientSession,
    health_url: str,
    read_url: str,
    *,
    rounds: int,
    round_seconds: float,
) -> tuple[dict[bool, Gets], Gets]:
    """/healthz probed alone and while READERS clients read `read_url` back to back, in
    rounds quiet, busy, busy, quiet, ...; the probes by busyness, and the readers' GETs."""
    probes = {False: Gets(), True: Gets()}
    readers = Gets()
    for index in range(rounds):
        busy = index % 4 in (1, 2)
        probing = get_loop(
            session, health_url, {}, workers=1, duration=round_seconds, pause=PROBE_PAUSE
        )
        if busy:
            reading = get_loop(session, read_url, HEADERS, workers=READERS, duration=round_seconds)
            probed, read = await asyncio.gather(probing, reading)
            readers += read
        else:
            probed = await probing
        probes[busy] += probed
    return probes, readers


def _ms(value: float) -> str:
    return f"{value * MS:.1f} ms"


def _kb(size: int) -> str:
    return f"{size / 1000:,.0f} kB"


def _read_row(case: Case, page: Shown) -> Row:
    items = f"{page.items} messages" if page.has_more is not None else f"{page.items} items"
    more = "" if page.has_more is None else f", has_more {str(page.has_more).lower()}"
    failures = case.first.describe_failures() + case.after.describe_failures()
    return Row(
        case.label,
        "reported",
        f"first read {_ms(statistics.median(case.first.latencies))} "
        f"(median of {len(case.first.latencies)}, rendering), then "
        f"p50 {_ms(percentile(case.after.latencies, 50))} · "
        f"p99 {_ms(percentile(case.after.latencies, 99))} (n={len(case.after.latencies)}); "
        f"{_kb(page.size)}, {items}{more}" + failures,
        None if not failures else False,
    )


async def rows(
    session: aiohttp.ClientSession,
    cip_url: str,
    database_url: str,
    data: LongDialogs,
    *,
    quick: bool,
) -> list[Row]:
    found = cases(cip_url, data)
    connection = await asyncpg.connect(database_url)
    try:
        seen = await reads(
            session,
            connection,
            data.tenant_id,
            found,
            first_reads=2 if quick else 5,
            rounds=2 if quick else 4,
            per_round=3 if quick else 10,
        )
    finally:
        await connection.close()
    result = [_read_row(case, seen[case.label]) for case in found]
    rounds, round_seconds = (2, 1.0) if quick else (4, 3.0)
    probes, readers = await healthz_beside_readers(
        session,
        f"{cip_url}/healthz",
        dialog_url(cip_url, data, LONG_TURNS),
        rounds=rounds,
        round_seconds=round_seconds,
    )
    return result + _healthz_rows(probes, readers, busy_seconds=rounds // 2 * round_seconds)


def _healthz_rows(probes: dict[bool, Gets], readers: Gets, *, busy_seconds: float) -> list[Row]:
    quiet, busy = probes[False], probes[True]
    failures = quiet.describe_failures() + busy.describe_failures()
    result = []
    for q in (50, 99):
        alone, beside = percentile(quiet.latencies, q), percentile(busy.latencies, q)
        result.append(
            Row(
                f"/healthz p{q} beside {READERS} clients reading the {LONG_TURNS:,}-turn dialog "
                "vs alone",
                "reported",
                f"{beside / alone:.1f}× ({_ms(beside)} vs {_ms(alone)}; "
                f"n={len(busy.latencies)} vs {len(quiet.latencies)})" + failures,
                None if not failures else False,
            )
        )
    result.append(
        Row(
            f"{READERS} clients reading the {LONG_TURNS:,}-turn dialog (default page) meanwhile",
            "reported",
            f"{len(readers.latencies) / busy_seconds:.0f}/s, p50 "
            f"{_ms(percentile(readers.latencies, 50))} · p99 "
            f"{_ms(percentile(readers.latencies, 99))}" + readers.describe_failures(),
            None if not readers.failures else False,
        )
    )
    return result
