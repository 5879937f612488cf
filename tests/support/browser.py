"""Browser test harness: the app on a real loopback port and a real Chromium driving it.

One Chromium process serves the whole session (Debian's `/usr/bin/chromium`, started here with
a DevTools port); each test connects Playwright to it over CDP and works in a fresh browser
context, so tests share no storage. Connecting per test keeps Playwright on the test's own
event loop, which is the loop the app and the fakes run on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    ViewportSize,
    async_playwright,
)

from cip.app import create_app
from cip.config import Config
from support.clock import ManualClock
from support.database import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=360, height=640)
# Screenshots taken for the record, in the repository's ignored var/ unless told otherwise.
SCREENSHOTS = Path(os.environ.get("CIP_SCREENSHOT_DIR", ROOT / "var/screenshots"))


@pytest.fixture(scope="session")
def chromium_endpoint() -> Iterator[str]:
    """The DevTools URL of a headless Chromium kept for the whole session."""
    profile = Path(tempfile.mkdtemp(prefix="cip-chromium-"))
    process = subprocess.Popen(
        [
            CHROMIUM,
            *CHROMIUM_ARGS,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{_devtools_port(profile, process)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose into the profile once it listens."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{CHROMIUM} exited with status {process.returncode}")
        if port_file.exists() and (text := port_file.read_text().strip()):
            return int(text.split()[0])
        time.sleep(0.05)
    raise RuntimeError(f"{CHROMIUM} did not open its DevTools port")


@dataclass
class Browser:
    """A fresh browser context for one test, and what its pages reported."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, console errors
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt that opened
    _dismissals: set[asyncio.Future[None]] = field(default_factory=set)

    async def new_page(self, viewport: ViewportSize | None = None) -> Page:
        page = await self.context.new_page()
        if viewport:
            await page.set_viewport_size(viewport)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        self._dismissals.add(task := asyncio.ensure_future(dialog.dismiss()))
        task.add_done_callback(self._dismissals.discard)


@pytest.fixture
async def browser(chromium_endpoint: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.connect_over_cdp(chromium_endpoint)
        context = await chromium.new_context(viewport=DESKTOP)
        context.set_default_timeout(10_000)
        try:
            yield Browser(context)
        finally:
            await context.close()


@dataclass
class LiveServer:
    url: str
    config: Config
    app: web.Application


@pytest.fixture
async def live_server(
    make_config: Callable[..., Config], clock: ManualClock
) -> AsyncIterator[Callable[..., Any]]:
    """Start the app on a free loopback port; keyword sections override the test config.
    `server.base_url` is the real URL, so mailed links lead back to this server."""
    runners: list[web.AppRunner] = []

    async def start(**sections: dict[str, Any]) -> LiveServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server_section = {**sections.pop("server", {}), "base_url": url}
        config = make_config(server=server_section, **sections)
        app = create_app(config, clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.SockSite(runner, sock).start()
        return LiveServer(url=url, config=config, app=app)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()
