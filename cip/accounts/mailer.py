"""Outgoing mail: a queue drained by one background sender, off every request's path.

Handlers `enqueue` a mail after their transaction commits and answer at once. The sender
delivers through SMTP (aiosmtplib) and retries with exponential backoff; a mail that still
fails is logged and dropped (the user can ask for it again). The connection turns to TLS
(STARTTLS) whenever the server offers it, and the relay password is sent only over TLS: a
server that would take it in clear gets no mail, and the log says why. With no `[smtp] host`
the whole mail, links included, is written to the log instead: the development mode. On shutdown the
queue gets `[smtp] drain_timeout` seconds to empty; what is left is logged (without links).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from cip import metrics
from cip.config import SmtpConfig
from cip.logs import Verbatim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str

    def message(self, sender: str) -> EmailMessage:
        """The message as it leaves, dated now; its Message-ID names the sender's domain."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2])
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class PlainTextLogin(Exception):
    """The server would take the relay password over an unencrypted connection."""


class Mailer:
    """The queue and its sender; `async with mailer.sending()` runs the sender for a block and
    gives the queue `[smtp] drain_timeout` seconds to empty at its end."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._queue: asyncio.Queue[Mail] = asyncio.Queue()
        self._in_flight: Mail | None = None  # taken from the queue, perhaps between retries

    def enqueue(self, mail: Mail) -> None:
        self._queue.put_nowait(mail)

    @property
    def queued(self) -> int:
        """Mails not yet delivered or given up: waiting, or being sent."""
        return self._queue.qsize() + (self._in_flight is not None)

    async def idle(self) -> None:
        """Wait until every mail queued so far has been delivered or given up."""
        await self._queue.join()

    @asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        sender = asyncio.create_task(self.run(), name="mail-sender")
        try:
            yield
        finally:
            await self.drain(self.config.drain_timeout)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def run(self) -> None:
        """The sender loop: one mail at a time, forever (cancelled at shutdown)."""
        while True:
            mail = await self._queue.get()
            self._in_flight = mail
            try:
                await self.deliver(mail)
            except Exception:  # one broken mail must not stop the sender
                metrics.MAIL_FAILURES.inc()
                log.exception("mail %r could not be sent", mail.subject)
            finally:
                self._in_flight = None
                self._queue.task_done()

    async def deliver(self, mail: Mail) -> None:
        if not self.config.host:
            log.info(
                "mail (no [smtp] host, not sent):\nTo: %s\nSubject: %s\n\n%s",
                mail.to,
                mail.subject,
                Verbatim(mail.text),
            )
            return
        message = mail.message(self.config.sender)  # one Message-ID for every attempt
        for attempt in range(self.config.retries + 1):
            try:
                await self._send(message)
                log.info("mail sent: %r", mail.subject)
                return
            except PlainTextLogin:  # no retry can change what the server offers
                metrics.MAIL_FAILURES.inc()
                log.error(
                    "mail %r not sent: the SMTP server %s:%d offers no STARTTLS, and the [smtp] "
                    "password is never sent in clear (use a server that offers STARTTLS, or set "
                    "[smtp] use_tls for one that speaks TLS from the start)",
                    mail.subject,
                    self.config.host,
                    self.config.port,
                )
                return
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                delay = self.config.retry_delay * 2**attempt
                if attempt == self.config.retries:
                    metrics.MAIL_FAILURES.inc()
                    log.error(
                        "mail %r not sent after %d attempt(s): %s", mail.subject, attempt + 1, exc
                    )
                    return
                log.warning(
                    "mail %r: attempt %d failed (%s); retrying in %.1fs",
                    mail.subject,
                    attempt + 1,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _send(self, message: EmailMessage) -> None:
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.use_tls,
            # "auto" (None to aiosmtplib): STARTTLS whenever the server offers it
            start_tls=config.starttls if isinstance(config.starttls, bool) else None,
            cert_bundle=str(config.ca_file) if config.ca_file else None,
            timeout=config.timeout,
        )
        async with client:
            if config.user:
                if client.get_transport_info("sslcontext") is None:
                    raise PlainTextLogin
                await client.login(config.user, config.password)
            await client.send_message(message)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the queue to empty; log what is left."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle(), timeout)
        left = [self._in_flight] if self._in_flight is not None else []
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        if left:
            log.error(
                "shutting down with %d mail(s) unsent: %s",
                len(left),
                "; ".join(f"{mail.subject!r} to {mail.to}" for mail in left),
            )
