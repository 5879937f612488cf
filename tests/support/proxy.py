"""nginx in front of `cip serve` instances, as deployed: the repository's `nginx.conf.template`
filled in with the instances' addresses and a free port, run by Debian's nginx in the
foreground with its prefix (pid file, temporary folders) in the test's folder, the access log
(`upstream=` names the instance that served each request) and the error log in files there.

`start_proxy(*servers)` starts it in front of running `ProcessServer`s and returns once a
request through it is answered; nginx is stopped when the test ends. nginx hands requests to
the instances in turn, in the order given (round robin, the rotation shared by its workers),
passing over one it cannot reach. So a test chooses where its next request lands with
`aim_at(server)` (a stop, or a reload of a stream, sent to the instance that does not stream
the answer), and proves where it landed with `answered_by(request_id)`, from the instances'
own logs.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
import pytest

from support.database import ROOT
from support.live_server import free_port
from support.process_server import START_GUARD_SECONDS, TENANT_SLUG, ProcessServer, wait_ready

NGINX_TEMPLATE = ROOT / "nginx.conf.template"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")  # what envsubst fills in (the nginx image's, too)
PROXY_ADDRESS = "127.0.0.1"  # what the instances trust: nginx reaches them from here
# An error log line: `2026/01/02 03:04:05 [error] 17#17: *5 <what happened>, client: ...`.
ERROR_LINE = re.compile(r"\] \d+#\d+: \*\d+ (.+?), client: ")


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with every `${NAME}` replaced by its value; a name without one fails."""
    return PLACEHOLDER.sub(lambda found: values[found[1]], template)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        pytest.fail("nginx is not installed: `make tools` installs Debian's nginx")
    return found


class ProxyExited(Exception):
    """nginx ended while it was expected to serve."""


class Proxy:
    def __init__(self, folder: Path, port: int, servers: tuple[ProcessServer, ...]) -> None:
        self.folder = folder
        self.port = port
        self.servers = servers
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{PROXY_ADDRESS}:{self.port}"

    @property
    def access_log(self) -> str:
        return (self.folder / "access.log").read_text(encoding="utf-8", errors="replace")

    @property
    def error_log(self) -> str:
        return (self.folder / "error.log").read_text(encoding="utf-8", errors="replace")

    def errors_about(self, server: ProcessServer) -> list[str]:
        """What nginx's error log says about its requests to `server`, in order."""
        upstream = f'upstream: "http://{PROXY_ADDRESS}:{server.port}/'
        return [
            found[1]
            for line in self.error_log.splitlines()
            if upstream in line and (found := ERROR_LINE.search(line))
        ]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Write the config, start nginx and return once a request through it is answered."""
        config = self.folder / "nginx.conf"
        upstreams = " ".join(f"server {PROXY_ADDRESS}:{server.port};" for server in self.servers)
        values = {"CIP_LISTEN": f"{PROXY_ADDRESS}:{self.port}", "CIP_UPSTREAMS": upstreams}
        config.write_text(render(NGINX_TEMPLATE.read_text(encoding="utf-8"), values))
        with (
            (self.folder / "access.log").open("ab") as stdout,
            (self.folder / "error.log").open("ab") as stderr,
        ):
            self.process = await asyncio.create_subprocess_exec(
                nginx_binary(),
                *("-p", f"{self.folder}/", "-c", str(config), "-e", "stderr"),
                *("-g", "daemon off;"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        await wait_ready(
            self.url, self.process, lambda: ProxyExited(f"nginx exited at start:\n{self.error_log}")
        )

    async def stop(self) -> None:
        """SIGTERM: nginx closes every connection at once and exits."""
        if self.process is None:
            return
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(START_GUARD_SECONDS):
            await self.process.wait()

    async def answered_by(self, request_id: str) -> ProcessServer:
        """The instance whose log has the request `request_id` (written once it is answered)."""
        while True:
            for server in self.servers:
                if server.logged(request_id) is not None:
                    return server
            await asyncio.sleep(0.02)

    async def probe(self) -> ProcessServer:
        """One small request through the proxy; the instance that answered it."""
        request_id = uuid.uuid4().hex
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{self.url}/api/v1/tenants/by-slug/{TENANT_SLUG}",
                headers={"X-Request-Id": request_id},
            ) as response,
        ):
            assert response.status == 200, await response.text()
        return await self.answered_by(request_id)

    async def aim_at(self, target: ProcessServer) -> None:
        """Probe until the instance before `target` in the rotation (of those running) has
        answered: with no other traffic, nginx sends the next request to `target`."""
        running = [server for server in self.servers if server.running]
        before = running[running.index(target) - 1]
        while await self.probe() is not before:
            pass


@pytest.fixture
async def start_proxy(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Proxy]]]:
    proxies: list[Proxy] = []

    async def start(*servers: ProcessServer) -> Proxy:
        folder = tmp_path / f"nginx-{len(proxies)}"
        folder.mkdir()
        proxy = Proxy(folder, free_port(), servers)
        proxies.append(proxy)
        await proxy.start()
        return proxy

    yield start
    for proxy in proxies:
        await proxy.stop()
