"""The mail texts, the mail itself (headers, STARTTLS, the relay password), and the background
sender's shutdown."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from cip.accounts.mail_texts import TEXTS, render
from cip.accounts.mailer import Mail, Mailer
from cip.config import SmtpConfig
from support.live_server import free_port
from support.smtp_server import Login, MakeSmtpServer, SmtpServer


def test_html_part_escapes_everything() -> None:
    mail = render(
        "en",
        "confirm_email",
        tenant="<b>Acme & Co</b>",
        link='http://x.test/a/confirm?token=t"<x>',
        hours=24,
    )
    assert mail.subject == "Confirm your email for <b>Acme & Co</b>"
    assert "<b>" not in mail.html and "&lt;b&gt;Acme &amp; Co&lt;/b&gt;" in mail.html
    assert 'href="http://x.test/a/confirm?token=t&quot;&lt;x&gt;"' in mail.html
    assert 'http://x.test/a/confirm?token=t"<x>' in mail.text


def test_every_language_has_every_mail() -> None:
    assert {locale: sorted(texts) for locale, texts in TEXTS.items()} == {
        locale: [
            "already_registered",
            "choose_password",
            "confirm_email",
            "quota_warning",
            "reset_password",
        ]
        for locale in ("en", "ru")
    }


async def test_shutdown_logs_unsent_mail_without_its_text(caplog: Any) -> None:
    mailer = Mailer(SmtpConfig(host="127.0.0.1", port=free_port(), retries=0))
    mailer.enqueue(
        Mail(to="zoe@example.com", subject="Confirm", text="http://secret-link", html="")
    )
    with caplog.at_level(logging.ERROR, logger="cip.accounts.mailer"):
        await mailer.drain(0.01)  # no sender running: nothing can leave
    assert "1 mail(s) unsent: 'Confirm' to zoe@example.com" in caplog.text
    assert "secret-link" not in caplog.text


async def test_shutdown_logs_the_mail_waiting_between_retries(caplog: Any) -> None:
    # Nothing listens on the port: the one mail fails and waits a long backoff.
    mailer = Mailer(SmtpConfig(host="127.0.0.1", port=free_port(), retries=3, retry_delay=30))
    mailer.enqueue(Mail(to="ann@example.com", subject="Reset", text="http://secret-link", html=""))
    sender = asyncio.create_task(mailer.run())
    with caplog.at_level(logging.WARNING, logger="cip.accounts.mailer"):
        async with asyncio.timeout(10):  # a guard against hanging, not a time limit
            while "attempt 1 failed" not in caplog.text:
                await asyncio.sleep(0.01)
        await mailer.drain(0.05)
    sender.cancel()
    assert "1 mail(s) unsent: 'Reset' to ann@example.com" in caplog.text
    assert "secret-link" not in caplog.text


USER, PASSWORD = "relay-user", "relay-password-1"


def mail_to(address: str, subject: str = "Hello") -> Mail:
    return Mail(to=address, subject=subject, text="plain", html="<p>html</p>")


@pytest.fixture
def relay_ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    """A certificate authority made for the test, and its certificate as a file for the
    mailer's `ca_file`."""
    ca = trustme.CA()
    path = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_starttls_is_used_when_offered_and_the_password_travels_inside_it(
    make_smtp_server: MakeSmtpServer, relay_ca: tuple[trustme.CA, Path]
) -> None:
    ca, ca_file = relay_ca
    server = make_smtp_server(tls=server_tls(ca), auth=True)  # refuses mail before STARTTLS
    mailer = Mailer(
        SmtpConfig(
            host="127.0.0.1",
            port=server.port,
            user=USER,
            password=PASSWORD,
            ca_file=ca_file,
            retries=0,
        )
    )
    await mailer.deliver(mail_to("amy@example.com"))
    assert [mail.envelope_to for mail in server.received] == [["amy@example.com"]]
    assert server.logins == [Login(USER, PASSWORD, over_tls=True)]


async def test_the_password_is_never_sent_in_clear(
    make_smtp_server: MakeSmtpServer, caplog: Any
) -> None:
    server = make_smtp_server(auth=True)  # offers AUTH without STARTTLS
    mailer = Mailer(
        SmtpConfig(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, retries=3)
    )
    with caplog.at_level(logging.INFO, logger="cip.accounts.mailer"):
        await mailer.deliver(mail_to("bea@example.com", "Confirm"))
    assert server.logins == [] and server.received == []
    [record] = [r for r in caplog.records if r.name == "cip.accounts.mailer"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"mail 'Confirm' not sent: the SMTP server 127.0.0.1:{server.port} offers no STARTTLS, "
        "and the [smtp] password is never sent in clear (use a server that offers STARTTLS, "
        "or set [smtp] use_tls for one that speaks TLS from the start)"
    )
    assert PASSWORD not in caplog.text


async def test_mails_carry_a_date_and_a_message_id_kept_across_retries(
    smtp_server: SmtpServer,
) -> None:
    mailer = Mailer(
        SmtpConfig(
            host="127.0.0.1",
            port=smtp_server.port,
            sender="ACME <no-reply@acme.example>",
            retries=1,
            retry_delay=0,
        )
    )
    smtp_server.refuse_next(1)
    before = datetime.now(UTC).replace(microsecond=0)
    await mailer.deliver(mail_to("cal@example.com"))
    await mailer.deliver(mail_to("cal@example.com"))
    first, second = (mail.message for mail in smtp_server.received)
    assert before <= email.utils.parsedate_to_datetime(str(first["Date"])) <= datetime.now(UTC)
    ids = smtp_server.message_ids
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]  # the retry resent the same mail
    assert [str(first["Message-ID"]), str(second["Message-ID"])] == ids[1:]
    assert all(re.fullmatch(r"<[^@<>\s]+@acme\.example>", value) for value in ids)
