"""`cip serve --workers N` as real processes: one port answered by every worker, the
supervisor's stop signals, a killed worker started again, workers that outlive no supervisor,
and the warning when the pools may want more connections than PostgreSQL allows."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from support.process_server import ProcessServer, alive, refused

GUARD_SECONDS = 60  # against hangs only
RESTARTS = re.compile(r"worker 1 \(pid \d+\) (.+); starting it again in ([0-9.]+) s")


async def test_two_workers_answer_on_one_port(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    server = make_process_server()  # the file says 1 worker; the flag overrides it
    await server.start("--workers", "2")
    async with asyncio.timeout(GUARD_SECONDS):
        answering = await server.pids_answering(2)
    workers = server.workers()
    assert sorted(workers) == [1, 2]
    assert answering == set(workers.values())
    assert server.pid not in answering
    assert "max_connections" not in server.log  # 2 x 20 connections: within the server's


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_to_the_supervisor_stops_every_worker_and_exits_0(
    make_process_server: Callable[..., ProcessServer], signum: signal.Signals
) -> None:
    server = make_process_server(server={"workers": 2})
    await server.start()
    async with asyncio.timeout(GUARD_SECONDS):
        workers = await server.pids_answering(2)
        server.send(signum)
        assert await server.wait_exit() == 0
    assert not any(alive(pid) for pid in workers)
    assert await refused(server.port)
    assert f"{signum.name}: stopping 2 worker(s)" in server.log
    assert "Traceback" not in server.log


async def test_a_killed_worker_is_started_again_and_the_port_keeps_answering(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    server = make_process_server(server={"workers": 2})
    await server.start()
    async with asyncio.timeout(GUARD_SECONDS):
        await server.pids_answering(2)
        killed, survivor = server.workers()[1], server.workers()[2]
        os.kill(killed, signal.SIGKILL)
        while alive(killed):
            await asyncio.sleep(0.02)
        # Every request is answered (`answered_by` asserts a 200) until the new worker 1 has
        # answered some of them.
        answering: set[int] = set()
        while (restarted := server.workers()[1]) == killed or restarted not in answering:
            answering.add(await server.answered_by())
    assert answering == {survivor, restarted}
    assert (
        f"worker 1 (pid {killed}) was killed by SIGKILL; starting it again in 0.5 s" in server.log
    )


async def test_workers_stop_when_their_supervisor_is_killed(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    server = make_process_server(server={"workers": 2})
    await server.start()
    async with asyncio.timeout(GUARD_SECONDS):
        workers = await server.pids_answering(2)
        assert await server.kill() == -signal.SIGKILL
        while any(alive(pid) for pid in workers):
            await asyncio.sleep(0.05)
    assert await refused(server.port)
    assert server.log.count(f"the supervisor (pid {server.pid}) is gone: stopping") == 2


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_warning_when_the_pools_may_want_more_than_max_connections(
    make_process_server: Callable[..., ProcessServer], workers: int
) -> None:
    probe = make_process_server()
    max_connections = int((await probe.fetch("SHOW max_connections"))[0][0])
    pool_max_size = max_connections // workers + 1
    server = make_process_server(
        server={"workers": workers}, database={"pool_max_size": pool_max_size}
    )
    await server.start()  # the check comes before the service answers
    warning = (
        f"{workers} process(es) x [database] pool_max_size {pool_max_size} = "
        f"{workers * pool_max_size} connections, more than PostgreSQL's max_connections "
        f"({max_connections}): lower pool_max_size or [server] workers, or raise "
        "max_connections"
    )
    assert server.log.count(warning) == 1  # once, however many workers


async def test_a_worker_failing_at_start_is_retried_later_and_later_until_it_serves(
    make_process_server: Callable[..., ProcessServer], tmp_path: Path
) -> None:
    prompt = tmp_path / "system_prompt.txt"
    prompt.write_text("You are a test assistant.", encoding="utf-8")
    server = make_process_server(server={"workers": 2}, prompts={"default_file": str(prompt)})
    await server.start()
    async with asyncio.timeout(GUARD_SECONDS):
        await server.pids_answering(2)
        killed = server.workers()[1]
        prompt.unlink()  # a worker cannot start without its default prompt
        os.kill(killed, signal.SIGKILL)
        while "starting it again in 2.0 s" not in server.log:
            await asyncio.sleep(0.05)
        prompt.write_text("You are a test assistant.", encoding="utf-8")
        answering = await server.pids_answering(2)  # worker 1 is back
    assert answering == set(server.workers().values())
    assert RESTARTS.findall(server.log)[:3] == [
        ("was killed by SIGKILL", "0.5"),
        ("exited with code 2", "1.0"),
        ("exited with code 2", "2.0"),
    ]
    assert f"cip: prompts.default_file: {prompt} not found (set it or PROMPT_FILE)" in server.log
