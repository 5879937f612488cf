"""The account mails, in each tenant language: every text lives here, one table per language.

A mail is a subject and paragraphs; the paragraph `LINK` stands for the mail's link. Texts are
`str.format` templates over `tenant` (the tenant's name), `hours` (how long the link lives) and
`percent` (how much of a monthly quota is used). The quota warning goes to the tenant's own
`notify` addresses and has no link.
The HTML part is built from the same paragraphs, every piece escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Literal

from cip.config import Locale

Kind = Literal[
    "confirm_email", "choose_password", "already_registered", "reset_password", "quota_warning"
]
LINK = "\0link"


@dataclass(frozen=True)
class MailText:
    subject: str
    paragraphs: tuple[str, ...]


EN: dict[Kind, MailText] = {
    "confirm_email": MailText(
        "Confirm your email for {tenant}",
        (
            "Hello!",
            "To finish signing up at {tenant}, confirm your email address by opening this link "
            "(it works for {hours} hours, once):",
            LINK,
            "If you did not sign up, just ignore this mail.",
        ),
    ),
    "choose_password": MailText(
        "Confirm your email and choose a password for {tenant}",
        (
            "Hello!",
            "This address was used to sign up at {tenant} more than once, so we cannot tell "
            "which password is yours. To confirm the address, choose your password with this "
            "link (it works for {hours} hours, once):",
            LINK,
            "Links in earlier mails no longer work. If you did not sign up, just ignore this mail.",
        ),
    ),
    "already_registered": MailText(
        "You already have an account at {tenant}",
        (
            "Hello!",
            "Someone (probably you) tried to sign up at {tenant} with this email address, but you "
            "already have an account. Log in here:",
            LINK,
            'Forgot your password? Use "Forgot password" on the login page. If it was not you, '
            "just ignore this mail.",
        ),
    ),
    "reset_password": MailText(
        "Reset your password at {tenant}",
        (
            "Hello!",
            "To choose a new password for {tenant}, open this link "
            "(it works for {hours} hours, once):",
            LINK,
            "If you did not ask for this, ignore this mail: your password stays as it is.",
        ),
    ),
    "quota_warning": MailText(
        "{tenant}: {percent}% of a monthly quota used",
        (
            "Hello!",
            "{tenant} has used {percent}% of one of its monthly quotas (answers or tokens). "
            "Once a quota is used up, chats are refused until the next month (UTC) or until "
            "the quota is raised. `cip usage` shows the usage per day.",
            "This is the only warning this month.",
        ),
    ),
}

RU: dict[Kind, MailText] = {
    "confirm_email": MailText(
        "Подтвердите email для {tenant}",
        (
            "Здравствуйте!",
            "Чтобы завершить регистрацию на {tenant}, подтвердите адрес, открыв ссылку "
            "(она действует {hours} ч. и только один раз):",
            LINK,
            "Если вы не регистрировались, просто проигнорируйте это письмо.",
        ),
    ),
    "choose_password": MailText(
        "Подтвердите email и задайте пароль для {tenant}",
        (
            "Здравствуйте!",
            "С этим адресом регистрировались на {tenant} несколько раз, и мы не знаем, какой "
            "пароль ваш. Чтобы подтвердить адрес, задайте пароль по ссылке "
            "(она действует {hours} ч. и только один раз):",
            LINK,
            "Ссылки из прежних писем больше не действуют. Если вы не регистрировались, просто "
            "проигнорируйте это письмо.",
        ),
    ),
    "already_registered": MailText(
        "У вас уже есть аккаунт на {tenant}",
        (
            "Здравствуйте!",
            "Кто-то (вероятно, вы) пытался зарегистрироваться на {tenant} с этим адресом, но у вас "
            "уже есть аккаунт. Войти можно здесь:",
            LINK,
            "Забыли пароль? Нажмите «Забыли пароль» на странице входа. Если это были не вы, "
            "просто проигнорируйте это письмо.",
        ),
    ),
    "reset_password": MailText(
        "Сброс пароля на {tenant}",
        (
            "Здравствуйте!",
            "Чтобы задать новый пароль на {tenant}, откройте ссылку "
            "(она действует {hours} ч. и только один раз):",
            LINK,
            "Если вы не запрашивали сброс, проигнорируйте письмо: пароль останется прежним.",
        ),
    ),
    "quota_warning": MailText(
        "{tenant}: использовано {percent}% месячной квоты",
        (
            "Здравствуйте!",
            "{tenant} использовал {percent}% одной из месячных квот (ответы или токены). "
            "Когда квота исчерпана, чаты отклоняются до следующего месяца (UTC) или до "
            "увеличения квоты. `cip usage` показывает расход по дням.",
            "Это единственное предупреждение в этом месяце.",
        ),
    ),
}

TEXTS: dict[Locale, dict[Kind, MailText]] = {"en": EN, "ru": RU}


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render(
    locale: Locale, kind: Kind, *, tenant: str, link: str = "", hours: float = 0, percent: int = 0
) -> RenderedMail:
    template = TEXTS[locale][kind]
    values = {"tenant": " ".join(tenant.split()), "hours": f"{hours:g}", "percent": str(percent)}
    paragraphs = [link if p == LINK else p.format(**values) for p in template.paragraphs]
    parts = [
        f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>'
        if p == LINK
        else f"<p>{html.escape(p.format(**values))}</p>"
        for p in template.paragraphs
    ]
    return RenderedMail(
        subject=template.subject.format(**values),
        text="\n\n".join(paragraphs) + "\n",
        html="<!DOCTYPE html>\n<html><body>\n" + "\n".join(parts) + "\n</body></html>\n",
    )
