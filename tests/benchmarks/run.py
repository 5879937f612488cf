"""`make bench`: start the fake DeepSeek and `python -m cip serve` as processes of their own
on a fresh database, run every benchmark against them, print one table, clean up.

`--only NAME` (repeatable) runs only those suites, seeding only what they need, e.g.
`python tests/benchmarks/run.py --only cabinet-dos` (or `make bench BENCH_ARGS="--only
cabinet-dos"`). `CIP_BENCH_QUICK=1` runs fewer rounds (a smoke run of the harness, not a
measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bursts
import cabinet_dos
import knowledge
import processes
import query_layer
import seed
import suites
from fake_deepseek import DELTAS
from load import Side, chat_once, client_session
from processes import ROOT, Process
from roundtrips import RoundTripCounter
from seed import CabinetTenant, LongDialogs
from suites import Row

from cip.config import StreamsConfig

QUICK = os.environ.get("CIP_BENCH_QUICK") == "1"
STREAMS = 1000
POOL_SIZE = 20  # a stream holds no connection while it waits on the LLM: 20 serve thousands
LOGINS = 20
# Every suite, in the order they run.
SUITES = (
    "ttft",
    "bursts",
    "streams",
    "cabinet",
    "isolation",
    "cabinet-dos",
    "round-trips",
    "query-layer",
    "workers",
    "durable-parts",
    "knowledge",
)
WORKERS = 2  # the `--workers` side of the workers suite
# `CIP_BENCH_BURSTS=1000` measures only bursts of that size (e.g. while profiling them).
BURST_SIZES = tuple(
    int(size) for size in os.environ.get("CIP_BENCH_BURSTS", "10,100,1000").split(",")
)


def raise_file_limit() -> None:
    """1,000 streams need about 3,000 sockets across the processes (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def wait_ready(url: str, timeout: float = 60.0) -> None:
    async with client_session() as session:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                async with session.get(url + "/readyz") as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


@dataclass(frozen=True)
class Seeded:
    chat_tenant: uuid.UUID
    emails: list[str]
    cabinet: tuple[CabinetTenant, CabinetTenant] | None  # 1,000 and 1,000,000 messages
    long_dialogs: LongDialogs | None


async def seed_for(database_url: str, only: frozenset[str]) -> Seeded:
    """The chat tenant and its accounts, and the cabinet tenants the chosen suites read."""
    connection = await asyncpg.connect(database_url)
    try:
        chat_tenant = await seed.tenant(connection, "bench")
        emails = await seed.accounts(connection, chat_tenant, LOGINS, processes.BCRYPT_COST)
        cabinet = None
        if "cabinet" in only:
            cabinet = (
                await seed.cabinet_tenant(connection, "cabinet-small", 1_000),
                await seed.cabinet_tenant(connection, "cabinet-large", 1_000_000),
            )
        long_dialogs = None
        if "cabinet-dos" in only:
            long_dialogs = await seed.long_dialogs(
                connection,
                "cabinet-long",
                (cabinet_dos.SHORT_TURNS, cabinet_dos.LONG_TURNS),
                cabinet_dos.SAVED,
            )
        await seed.analyze(connection)
    finally:
        await connection.close()
    return Seeded(chat_tenant, emails, cabinet, long_dialogs)


async def main(only: frozenset[str], runs: int) -> list[Row]:
    """Every chosen suite `runs` times against the same processes and data (the rows of a
    figure reported as the median of the runs), then the bursts (rounds of their own)."""
    raise_file_limit()
    prompt = (ROOT / "prompts/system_prompt.txt").read_text(encoding="utf-8").strip()
    each_run: list[list[Row]] = []
    with (
        tempfile.TemporaryDirectory(prefix="cip-bench-") as tmp,
        processes.fresh_database() as database_url,
    ):
        folder = Path(tmp)
        llm_port, cip_port = processes.free_port(), processes.free_port()
        llm_url = f"http://127.0.0.1:{llm_port}/v1"
        cip_url = f"http://127.0.0.1:{cip_port}"
        config = processes.write_config(
            folder,
            port=cip_port,
            database_url=database_url,
            llm_url=llm_url,
            pool_max_size=POOL_SIZE,
        )
        with (
            processes.fake_deepseek(llm_port, folder),
            processes.cip_server(config, cip_port, folder) as server,
        ):
            await wait_ready(cip_url)
            step("seeding")
            data = await seed_for(database_url, only)
            pair = suites.sides(cip_url, llm_url, data.chat_tenant, prompt)
            for run in range(runs if only - {"bursts"} else 0):
                step(f"run {run + 1} of {runs}")
                here = processes.new_folder(folder / f"run{run}")
                rows: list[Row] = []
                async with client_session() as session:
                    rows += await _run(session, server, pair, cip_url, database_url, data, only)
                if "round-trips" in only:
                    rows.append(
                        await _round_trips(
                            here,
                            database_url,
                            llm_url,
                            pair,
                            data.chat_tenant,
                        )
                    )
                if "query-layer" in only:
                    step("query layer")
                    rows += await query_layer.rows(database_url)
                if "knowledge" in only:
                    step("knowledge base")
                    rows += await knowledge.rows(database_url)
                if "workers" in only:
                    rows += await _workers(here, database_url, llm_url, cip_url)
                if "durable-parts" in only:
                    async with client_session() as session:
                        rows += await _durable_parts(
                            session,
                            here,
                            database_url,
                            llm_url,
                            cip_url,
                            pair,
                        )
                each_run.append(rows)
            merged = medians(each_run)
            if "bursts" in only:
                merged += await _bursts(folder, database_url, llm_url, cip_url, pair)
    return merged


def medians(runs: list[list[Row]]) -> list[Row]:
    """One row per benchmark: a figure's median over the runs with its min and max (the
    target judged on the median, and failed by an error in any run), then the last run's
    details; a row without a figure is the last run's (failed if any run failed)."""
    named: dict[str, list[Row]] = {}
    for rows in runs:
        for row in rows:
            named.setdefault(row.benchmark, []).append(row)
    merged: list[Row] = []
    for seen in named.values():
        last = seen[-1]
        values = [row.value for row in seen if row.value is not None]
        if len(seen) == 1:
            merged.append(last)
            continue
        if len(values) != len(seen):
            passed = None if last.passed is None else all(row.passed for row in seen)
            merged.append(dataclasses.replace(last, passed=passed))
            continue
        middle = statistics.median(values)
        errors = sum(row.errors for row in seen)
        passed = None if last.limit is None else middle <= last.limit and not errors

        def figure(value: float, unit: str = last.unit) -> str:
            return f"{value:.2f}{unit}" if unit == "×" else f"{value:.1f}{unit}"

        merged.append(
            dataclasses.replace(
                last,
                measured=f"**{figure(middle)}** (median of {len(seen)} runs; min "
                f"{figure(min(values))}, max {figure(max(values))}) · last run: {last.measured}",
                passed=passed,
                value=middle,
                errors=errors,
            )
        )
    return merged


async def _bursts(
    folder: Path, database_url: str, llm_url: str, cip_url: str, pair: tuple[Side, Side]
) -> list[Row]:
    """Bursts against the one process, then 1,000 new visitors against it and a second app
    with `--workers 2` on the same database, in alternating rounds."""
    step("bursts of visitors")
    async with client_session() as session:
        rows = await bursts.bursts(session, pair, rounds=1 if QUICK else 3, sizes=BURST_SIZES)
    if max(BURST_SIZES) < STREAMS:
        return rows
    async with _with_workers(folder, "burst-workers", database_url, llm_url) as url:
        direct, one = pair
        two = dataclasses.replace(one, url=url + one.url.removeprefix(cip_url))
        async with client_session() as session:
            rows += await bursts.workers(
                session, direct, {1: one, WORKERS: two}, size=STREAMS, rounds=1 if QUICK else 3
            )
    return rows


def step(name: str) -> None:
    print(f"{name}…", file=sys.stderr, flush=True)


async def _run(
    session: aiohttp.ClientSession,
    server: Process,
    pair: tuple[Side, Side],
    cip_url: str,
    database_url: str,
    data: Seeded,
    only: frozenset[str],
) -> list[Row]:
    rows: list[Row] = []
    if "ttft" in only:
        step("time to first token")
        rows += await suites.time_to_first_token(
            session, pair, single_rounds=20 if QUICK else 60, loaded_rounds=2
        )
    if "streams" in only:
        step("concurrent streams")
        rows += await suites.concurrent_streams(session, pair, server, streams=STREAMS, rounds=2)
    if data.cabinet is not None:
        step("cabinet reads")
        rows += await suites.cabinet_reads(
            session,
            cip_url,
            *data.cabinet,
            rounds=2,
            workers=8,
            round_seconds=1.0 if QUICK else 2.0,
        )
    if "isolation" in only:
        step("isolation")
        rows += await suites.isolation(
            session,
            pair,
            f"{cip_url}/api/v1/tenants/{data.chat_tenant}/login",
            data.emails,
            streams=100,
            rounds=2,
        )
    if data.long_dialogs is not None:
        step("long dialogs in the cabinet")
        rows += await cabinet_dos.rows(
            session, cip_url, database_url, data.long_dialogs, quick=QUICK
        )
    return rows


async def _round_trips(
    folder: Path,
    database_url: str,
    llm_url: str,
    pair: tuple[Side, Side],
    tenant_id: uuid.UUID,
) -> Row:
    """A second app, behind the counting proxy, serves chats one batch at a time."""
    step("round trips")
    counter = RoundTripCounter(upstream_port=5432)
    await counter.start()
    name = database_url.rsplit("/", 1)[1]
    sub, config, port = processes.config_in(
        folder,
        "roundtrips",
        llm_url=llm_url,
        pool_max_size=2,
        database_url=f"postgresql://postgres@127.0.0.1:{counter.port}/{name}?sslmode=disable",
    )
    server = Process(
        "cip-roundtrips",
        [sys.executable, "-m", "cip", "--config", str(config), "serve"],
        sub / "cip.log",
    )
    chats = 40
    namespace = uuid.uuid4()

    def body(n: int) -> bytes:  # the n-th visitor's question
        return orjson.dumps({"user_id": str(uuid.uuid5(namespace, str(n))), "message": "Hi?"})

    side = Side(
        "cip",
        f"http://127.0.0.1:{port}/api/v1/tenants/{tenant_id}/chat",
        body,
        pair[1].headers,
        pair[1].is_delta,
    )
    counts: list[int] = []
    failures: list[str] = []
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, processes.wait_for_port, server, port
        )
        async with client_session() as session:
            await wait_ready(f"http://127.0.0.1:{port}")
            # Warm-up (statements prepared on both pooled connections), then the same
            # visitors twice: their first question, and a later one.
            for first, size in ((-100, 4), (0, chats), (0, chats)):
                before = counter.count
                done = await asyncio.gather(
                    *(
                        chat_once(session, side, first + n, expected_deltas=DELTAS)
                        for n in range(size)
                    )
                )
                counts.append(counter.count - before)
                failures += [chat.error for chat in done if chat.error]
    finally:
        server.stop()
        await counter.stop()
    return Row(
        "Database round trips per chat request",
        "reported",
        f"{counts[1] / chats:.2f} for a visitor's first chat, {counts[2] / chats:.2f} "
        f"after (counted on the wire over {chats} chats each)"
        + (f"; {len(failures)} failed" if failures else ""),
        None if not failures else False,
    )


@contextlib.asynccontextmanager
async def _with_workers(
    folder: Path, name: str, database_url: str, llm_url: str
) -> AsyncIterator[str]:
    """A second app, `cip serve --workers 2` on the same database with the same pool per
    process, in `folder/name`: its URL once every worker serves."""
    sub, config, port = processes.config_in(
        folder, name, database_url=database_url, llm_url=llm_url, pool_max_size=POOL_SIZE
    )
    args = [sys.executable, "-m", "cip", "--config", str(config), "serve", "--workers"]
    with processes.running("cip-workers", [*args, str(WORKERS)], port, sub) as server:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url)
        while server.log_path.read_text(errors="replace").count("Running on") < WORKERS:
            server.check_alive()
            await asyncio.sleep(0.2)
        yield url


async def _workers(folder: Path, database_url: str, llm_url: str, cip_url: str) -> list[Row]:
    """A second app with `--workers 2` on the same database, against the first (one process),
    each with the same pool per process."""
    step("workers")
    async with _with_workers(folder, "workers", database_url, llm_url) as url:
        return await suites.workers_throughput(
            {1: cip_url, WORKERS: url},
            clients=16,
            rounds=1,
            round_seconds=2.0 if QUICK else 6.0,
        )


async def _durable_parts(
    session: aiohttp.ClientSession,
    folder: Path,
    database_url: str,
    llm_url: str,
    cip_url: str,
    pair: tuple[Side, Side],
) -> list[Row]:
    """A second app on the same database that keeps answers in flight in memory only
    (`flush_interval = 0`), against the first (the default appends)."""
    step("durable parts")
    sub, config, port = processes.config_in(
        folder,
        "memory-only",
        database_url=database_url,
        llm_url=llm_url,
        pool_max_size=POOL_SIZE,
        flush_interval=0,
    )
    _, durable = pair
    memory_url = f"http://127.0.0.1:{port}"
    memory = dataclasses.replace(
        durable, name="memory", url=memory_url + durable.url.removeprefix(cip_url)
    )
    with processes.cip_server(config, port, sub):
        await wait_ready(memory_url)
        return await suites.durable_parts(
            session,
            memory,
            durable,
            flush_interval=StreamsConfig().flush_interval,
            rounds=2,
        )


def table(rows: list[Row]) -> str:
    lines = ["| Benchmark | Target | Measured | Result |", "|---|---|---|---|"]
    for row in rows:
        verdict = "—" if row.passed is None else "PASS" if row.passed else "FAIL"
        lines.append(f"| {row.benchmark} | {row.target} | {row.measured} | {verdict} |")
    return "\n".join(lines)


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def arguments() -> tuple[frozenset[str], int]:
    """The suites chosen (`--only`, repeatable; all by default) and the number of runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=SUITES,
        metavar="SUITE",
        help=f"run only this suite (repeatable): {', '.join(SUITES)}",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1 if QUICK else 3,
        help="how many times each suite runs; a figure is the median of the runs (default 3)",
    )
    parsed = parser.parse_args()
    return frozenset(parsed.only or SUITES), max(1, parsed.runs)


if __name__ == "__main__":
    only, runs = arguments()
    started = time.monotonic()
    with asyncio.Runner(loop_factory=new_loop) as runner:
        result = runner.run(main(only, runs))
    print(table(result))
    print(
        f"\n{len(result)} rows in {time.monotonic() - started:.0f} s "
        f"({os.cpu_count()} cores, Python {sys.version.split()[0]})"
    )
    sys.exit(1 if any(row.passed is False for row in result) else 0)
