"""`python -m cip serve` as a real child process, for the faults only a real process has: being
killed (`kill -9`), SIGTERM, its own stderr, and load without the test's event loop in the way.

`make_process_server(**sections)` writes a config file (a fresh database on the test
PostgreSQL server, the fake DeepSeek, the tenant `faults`; keyword sections override) and
returns a `ProcessServer` that can be started (with arguments for `serve`, such as
`--workers 2`), signalled, killed and started again with the same config. Its stderr goes to
a file that accumulates across restarts; with workers, it tells which process answered a
request. Servers still running when the test ends are killed (their workers follow).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import tomli_w

from cip.config import ENV_OVERRIDES
from support.database import ROOT, TEST_SECRET, DatabaseServer
from support.fake_llm import FakeLlm
from support.live_server import free_port

TENANT_SLUG = "faults"
# `cip serve --workers N`: what the supervisor logs as it starts a worker. The request log
# line of a request by its id (with workers, each line names the process that wrote it).
WORKER_STARTED = re.compile(r"cip\.supervisor\[\d+\] worker (\d+) started: pid (\d+)")
REQUEST_LINE = r"cip\.request(?:\[(\d+)\])? {} "
API_KEY = "sk-process-test"
START_GUARD_SECONDS = 60  # a guard against a server that never comes up, not a threshold


class ServerExited(Exception):
    """The child process ended while it was expected to serve."""


class ProcessServer:
    def __init__(self, config_path: Path, log_path: Path, port: int, database_url: str) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.port = port
        self.database_url = database_url
        self.serve_args: tuple[str, ...] = ()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, *serve_args: str) -> None:
        """Start the process (`cip serve` with `serve_args`, kept for restarts) and return once
        `/readyz` answers 200."""
        assert not self.running
        self.serve_args = serve_args or self.serve_args
        # The environment must not override the generated file (DATABASE_URL, JWT_SECRET, ...).
        environ = {
            name: value
            for name, value in os.environ.items()
            if name not in ENV_OVERRIDES and name != "CIP_CONFIG"
        }
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "cip",
                "--config",
                str(self.config_path),
                "serve",
                *self.serve_args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env={**environ, "PYTHONUNBUFFERED": "1"},
            )
        await wait_ready(
            self.url, self.process, lambda: ServerExited(f"cip serve exited at start:\n{self.log}")
        )

    def send(self, signal_number: int) -> None:
        assert self.process is not None
        self.process.send_signal(signal_number)

    async def wait_exit(self, guard: float = START_GUARD_SECONDS) -> int:
        assert self.process is not None
        async with asyncio.timeout(guard):
            return await self.process.wait()

    async def kill(self) -> int:
        """`kill -9`: the process gets no chance to clean up."""
        self.send(signal.SIGKILL)
        return await self.wait_exit()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Read the server's database directly (what PostgreSQL really holds)."""
        connection = await asyncpg.connect(self.database_url)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def tenant_id(self, slug: str = TENANT_SLUG) -> str:
        rows = await self.fetch("SELECT id FROM tenant WHERE slug = $1", slug)
        return str(rows[0]["id"])

    def workers(self) -> dict[int, int]:
        """With `--workers`: the pid of each worker's latest process, by worker number."""
        return {int(number): int(pid) for number, pid in WORKER_STARTED.findall(self.log)}

    async def answered_by(self) -> int:
        """Ask on a connection of its own (the kernel picks the worker that accepts it); the
        pid of the process that answered, from its request log line."""
        request_id = uuid.uuid4().hex
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(
                f"{self.url}/api/v1/tenants/by-slug/{TENANT_SLUG}",
                headers={"X-Request-Id": request_id},
            ) as response,
        ):
            assert response.status == 200, await response.text()
        while (pid := self.logged(request_id)) is None:  # written once the answer is sent
            await asyncio.sleep(0.02)
        return pid

    def logged(self, request_id: str) -> int | None:
        """The pid of the process whose request log line has `request_id`, once written."""
        found = re.search(REQUEST_LINE.format(re.escape(request_id)), self.log)
        if found is None:
            return None
        return int(found[1]) if found[1] else self.pid

    async def pids_answering(self, count: int) -> set[int]:
        """Ask on fresh connections until `count` processes have answered; their pids."""
        pids: set[int] = set()
        while len(pids) < count:
            pids.add(await self.answered_by())
        return pids


async def wait_ready(
    url: str, process: asyncio.subprocess.Process, exited: Callable[[], Exception]
) -> None:
    """Return once `{url}/readyz` answers 200; raise `exited()` if the process ends first."""
    async with asyncio.timeout(START_GUARD_SECONDS), aiohttp.ClientSession() as session:
        while process.returncode is None:
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise exited()


def alive(pid: int) -> bool:
    """The process runs (a zombie has ended: its sockets are closed)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return False


def base_sections(port: int, database_url: str, state_dir: Path, llm_url: str) -> dict[str, Any]:
    return {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "base_url": f"http://127.0.0.1:{port}",
            "mode": "development",
            "state_dir": str(state_dir),
            "shutdown_timeout": 30.0,
        },
        "database": {"url": database_url, "auto_migrate": True},
        "llm": {"api_url": llm_url, "api_key": API_KEY, "heartbeat_interval": 1.0},
        "prompts": {
            "default_file": str(ROOT / "prompts/system_prompt.txt"),
            "directory": str(ROOT / "prompts"),
        },
        "auth": {"jwt_secret": TEST_SECRET, "bcrypt_cost": 4},
        "tenants": {TENANT_SLUG: {"name": "Faults", "locale": "en"}},
    }


@pytest.fixture
async def make_process_server(
    database_server: DatabaseServer, fake_llm: FakeLlm, tmp_path: Path
) -> AsyncIterator[Callable[..., ProcessServer]]:
    servers: list[ProcessServer] = []

    def make(*, same_database_as: ProcessServer | None = None, **sections: Any) -> ProcessServer:
        """A server on a fresh database, or on `same_database_as`'s (another instance)."""
        folder = tmp_path / f"server-{len(servers)}"
        folder.mkdir()
        port = free_port()
        database_url = (
            same_database_as.database_url
            if same_database_as is not None
            else database_server.create_database("cip_process")
        )
        raw = base_sections(port, database_url, folder / "var", fake_llm.url)
        for section, values in sections.items():
            raw[section] = {**raw.get(section, {}), **values}
        config_path = folder / "config.toml"
        config_path.write_text(tomli_w.dumps(raw), encoding="utf-8")
        server = ProcessServer(config_path, folder / "server.log", port, database_url)
        servers.append(server)
        return server

    yield make
    for server in servers:
        if server.running:
            await server.kill()
