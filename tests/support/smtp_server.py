"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Fixture `smtp_server` runs one per test; `make_smtp_server(port)` starts one on a chosen port
(for "the server was down, now it is up"). `await server.wait_for(count)` returns the mails
once that many arrived; `server.refuse_next(n)` answers the next n deliveries with a temporary
failure (451), so retries can be watched.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from support.live_server import free_port

HOST = "127.0.0.1"
LINK = re.compile(r"https?://\S+")


class Received:
    """One received mail, with its parts decoded."""

    def __init__(self, envelope_to: list[str], message: EmailMessage) -> None:
        self.envelope_to = envelope_to
        self.message = message
        self.subject = str(message["Subject"])
        text_part = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        self.text = text_part.get_content() if text_part else ""
        self.html = html_part.get_content() if html_part else ""

    @property
    def links(self) -> list[str]:
        return LINK.findall(self.text)


class SmtpServer:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.attempts = 0
        self._refuse = 0
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname=HOST, port=port or free_port())
        self.port = self.controller.port

    # aiosmtpd handler hook, called in the server's thread
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            if self._refuse:
                self._refuse -= 1
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"

    def refuse_next(self, count: int) -> None:
        with self._lock:
            self._refuse = count

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first `count` mails, once they have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                await asyncio.sleep(0.01)
        return list(self.received[:count])

    def to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.envelope_to]


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[[int], SmtpServer]]:
    started: list[SmtpServer] = []

    def make(port: int = 0) -> SmtpServer:
        server = SmtpServer(port).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[[int], SmtpServer]) -> SmtpServer:
    return make_smtp_server(0)
