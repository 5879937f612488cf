"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Fixture `smtp_server` runs one per test; `make_smtp_server(port)` starts one on a chosen port
(for "the server was down, now it is up"); `make_smtp_server(tls=..., auth=True)` one that
offers STARTTLS with a certificate the test made (and requires it), or AUTH, whose `logins`
record every login the server received and whether it came over TLS.
`await server.wait_for(count)` returns the mails once that many arrived;
`server.refuse_next(n)` answers the next n deliveries with a temporary failure (451), so
retries can be watched; `message_ids` lists the Message-ID of every delivery attempt.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    over_tls: bool


class SmtpServer:
    def __init__(
        self, port: int = 0, *, tls: ssl.SSLContext | None = None, auth: bool = False
    ) -> None:
        self.received: list[Received] = []
        self.logins: list[Login] = []
        self.message_ids: list[str] = []
        self.attempts = 0
        self._refuse = 0
        self._lock = threading.Lock()
        options: dict[str, Any] = {}
        if tls is not None:  # STARTTLS offered, and required before any mail
            options.update(tls_context=tls, require_starttls=True)
        if auth:  # AUTH offered even on a plain connection: a careless relay
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        self.controller = Controller(self, hostname=HOST, port=port or free_port(), **options)
        self.port = self.controller.port

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        with self._lock:
            self.logins.append(
                Login(
                    auth_data.login.decode(),
                    auth_data.password.decode(),
                    over_tls=session.ssl is not None,
                )
            )
        return AuthResult(success=True)

    # aiosmtpd handler hook, called in the server's thread
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.message_ids.append(str(message["Message-ID"]))
            if self._refuse:
                self._refuse -= 1
                return "451 4.3.0 Try again later"
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


class MakeSmtpServer(Protocol):
    def __call__(
        self, port: int = 0, *, tls: ssl.SSLContext | None = None, auth: bool = False
    ) -> SmtpServer: ...


@pytest.fixture
def make_smtp_server() -> Iterator[MakeSmtpServer]:
    started: list[SmtpServer] = []

    def make(port: int = 0, *, tls: ssl.SSLContext | None = None, auth: bool = False) -> SmtpServer:
        server = SmtpServer(port, tls=tls, auth=auth).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: MakeSmtpServer) -> SmtpServer:
    return make_smtp_server()
