"""`cip serve --workers N`: N worker processes serving one port, and the supervisor that keeps
them running.

The supervisor (the process `cip serve` started as) binds nothing and serves nothing. It spawns
N workers, each a whole service (`create_app`) with its own event loop and asyncpg pool,
listening on the same host and port with SO_REUSEPORT: the kernel spreads new connections
over them. A worker is spawned (a fresh interpreter) with the supervisor's validated config,
so every worker has the same settings, a development JWT secret included.

- SIGTERM or SIGINT to the supervisor reaches every worker as SIGTERM; each shuts down as a
  single `cip serve` does. The supervisor waits for them (at most `[server] shutdown_timeout`
  + `[smtp] drain_timeout` + `STOP_MARGIN`, then it kills what is left) and exits 0 when
  every worker ended cleanly.
- A worker that ends when no stop was asked for is logged and started again, after a delay
  that doubles while its restarts keep dying young (`RESTART_DELAY` up to
  `MAX_RESTART_DELAY`), so a worker that fails at start does not spin.
- The workers write their metrics into one fresh directory (`PROMETHEUS_MULTIPROC_DIR`,
  removed when the supervisor is done), so whichever answers a scrape reports them all; a
  worker that ended is marked dead there, and its gauges stop counting (`cip.metrics`).
- A worker takes only the first SIGTERM or SIGINT: the supervisor forwards its own, and
  systemd (by default) signals every process of a service itself; a second signal would cut
  the worker's shutdown short. A worker whose supervisor is gone (killed) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess

from aiohttp import web

from cip import metrics
from cip.config import Config

log = logging.getLogger(__name__)
SPAWN = multiprocessing.get_context("spawn")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RESTART_DELAY = 0.5  # before restarting a worker that died; doubled while it dies young ...
MAX_RESTART_DELAY = 30.0  # ... up to this; a worker that lived this long counts as healthy
STOP_MARGIN = 10.0  # for closing the pool and the process itself, past the configured waits
# A worker's function: it runs in the new process, which imports it by name.
WorkerMain = Callable[[Config], None]


def check_address_free(host: str, port: int) -> None:
    """Raise the `OSError` a plain bind gets when the address is taken or is not this
    machine's. The workers bind with SO_REUSEPORT, which would let them share the port with
    another process holding it the same way (another `cip serve --workers`) instead of
    failing; this probe has no SO_REUSEPORT and is closed before any worker starts."""
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            # As the workers' sockets: a port whose last connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


async def exit_code(process: BaseProcess) -> int:
    """Wait, without blocking the loop, for the process to end; its exit code (minus the
    signal's number when a signal ended it)."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:  # called again until the reader is removed
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(process.sentinel, readable)
    try:
        await ended
    finally:
        loop.remove_reader(process.sentinel)
    process.join()
    code = process.exitcode
    assert code is not None
    process.close()
    return code


class Supervisor:
    """Keeps `workers` processes running `main` until SIGTERM or SIGINT."""

    def __init__(self, workers: int, main: WorkerMain) -> None:
        self.workers = workers
        self.main = main
        self.stopping = asyncio.Event()
        self.running: dict[int, BaseProcess] = {}  # by worker number, from 1

    @contextlib.contextmanager
    def taking_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the workers (or keep them from starting) for the block."""
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.stop, signum)
        try:
            yield
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def stop(self, signum: int) -> None:
        if self.stopping.is_set():
            return
        log.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(self.running))
        self.stopping.set()
        for process in self.running.values():
            process.terminate()  # SIGTERM

    async def run(self, config: Config) -> int:
        """Start the workers with `config` and keep them running until a stop; 0 when every
        worker then ended cleanly (exit code 0, or SIGTERM that came before it could take
        signals), 1 otherwise."""
        with metrics.metrics_directory():
            return await self._run(config)

    async def _run(self, config: Config) -> int:
        keepers = [
            asyncio.create_task(self._keep(number, config)) for number in range(1, self.workers + 1)
        ]
        await self.stopping.wait()
        patience = config.server.shutdown_timeout + config.smtp.drain_timeout + STOP_MARGIN
        _, late = await asyncio.wait(keepers, timeout=patience)
        if late:
            for number, process in self.running.items():
                log.error(
                    "worker %d (pid %s) still running after %.0f s: killed",
                    number,
                    process.pid,
                    patience,
                )
                process.kill()
        codes = [await keeper for keeper in keepers]
        clean = all(code in (None, 0, -signal.SIGTERM) for code in codes)
        return 0 if clean else 1

    async def _keep(self, number: int, config: Config) -> int | None:
        """Run worker `number`, again whenever it dies, until the stop; the exit code of its
        last process (None when a stop found it waiting to restart)."""
        delay = RESTART_DELAY
        while not self.stopping.is_set():
            process = SPAWN.Process(
                target=self.main, args=(config,), name=f"cip-worker-{number}", daemon=False
            )
            process.start()
            self.running[number] = process
            pid = process.pid
            assert pid is not None  # started
            log.info("worker %d started: pid %s", number, pid)
            started = time.monotonic()
            code = await exit_code(process)
            del self.running[number]
            metrics.process_ended(pid)
            if self.stopping.is_set():
                if code not in (0, -signal.SIGTERM):
                    log.error("worker %d (pid %s) %s", number, pid, describe_exit(code))
                return code
            if time.monotonic() - started >= MAX_RESTART_DELAY:
                delay = RESTART_DELAY
            log.error(
                "worker %d (pid %s) %s; starting it again in %.1f s",
                number,
                pid,
                describe_exit(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stopping.wait()
            delay = min(2 * delay, MAX_RESTART_DELAY)
        return None


def as_worker(app: web.Application) -> None:
    """Make `app` a worker's: it takes the first stop signal only, and stops when its
    supervisor is gone."""
    app.on_startup.insert(0, _first_signal_only)
    app.on_startup.append(_stop_without_supervisor)


async def _first_signal_only(app: web.Application) -> None:
    """In place of aiohttp's handlers (which raise `GracefulExit` on every signal): the first
    SIGTERM or SIGINT starts the shutdown, later ones are ignored."""
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, _already_stopping)
        raise web.GracefulExit()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, shut_down)


def _already_stopping() -> None:
    log.info("already stopping: signal ignored")


async def _stop_without_supervisor(app: web.Application) -> None:
    """The supervisor's end of a pipe closes when it dies, even by SIGKILL: then stop as on
    SIGTERM, so no orphan keeps serving the port."""
    supervisor = multiprocessing.parent_process()
    if supervisor is None:
        return
    loop = asyncio.get_running_loop()

    def gone() -> None:
        loop.remove_reader(supervisor.sentinel)
        log.warning("the supervisor (pid %s) is gone: stopping", supervisor.pid)
        signal.raise_signal(signal.SIGTERM)

    loop.add_reader(supervisor.sentinel, gone)
