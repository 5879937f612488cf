"""The mail texts and the background sender's shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cip.accounts.mail_texts import TEXTS, render
from cip.accounts.mailer import Mail, Mailer
from cip.config import SmtpConfig
from support.live_server import free_port


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
        "en": ["already_registered", "confirm_email", "reset_password"],
        "ru": ["already_registered", "confirm_email", "reset_password"],
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
