"""Account rules (SPEC §6 "Accounts"): registration, confirmation, login, password reset.

No answer tells whether an email has an account: registration, resend and forgot answer the
same either way (a taken email gets a different mail, not a different response), and
registration hashes the password either way. Resend and forgot write a token only for an
existing account, a difference of one small insert. Mails are queued only after the transaction that made their token commits.
Throttling: failed logins per email and per client IP; register / resend / forgot per IP
(429) and mails per address (silently none past the limit, so the limit says nothing either).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg
from aiohttp import web

from cip import errors, identity, keys
from cip.config import Config
from cip.limits import effective_limits
from cip.mail_texts import Kind, render
from cip.mailer import Mail, Mailer
from cip.passwords import PasswordHasher
from cip.store import accounts, guest_merge, rate_limits
from cip.store.tenants import TenantRow

log = logging.getLogger(__name__)
HOUR = 3600

REGISTER_ACCEPTED = "Thank you! Check your inbox: we have sent you an email with the next step."
RESEND_ACCEPTED = "If an unconfirmed account uses this address, a new confirmation link is on its way."
FORGOT_ACCEPTED = "If an account uses this address, a link to reset the password is on its way."
EMAIL_CONFIRMED = "Your email is confirmed. You can log in now."
PASSWORD_CHANGED = "Your password has been changed. Please log in with the new password."
BAD_CONFIRM_TOKEN = "This confirmation link is unknown, used or expired. Ask for a new one."
BAD_RESET_TOKEN = "This password reset link is unknown, used or expired. Ask for a new one."
BAD_CREDENTIALS = "Wrong email or password."
EMAIL_NOT_CONFIRMED = "Please confirm your email first: follow the link in the mail we sent you."
TOO_MANY_FAILURES = "Too many failed logins. Please wait and try again."
GUEST_IS_ACCOUNT = "guest_user_id must be a guest id, not an account id."


@dataclass(frozen=True)
class Services:
    pool: asyncpg.Pool
    config: Config
    mailer: Mailer
    passwords: PasswordHasher

    @classmethod
    def of(cls, app: web.Application) -> Services:
        return cls(app[keys.POOL], app[keys.CONFIG], app[keys.MAILER], app[keys.PASSWORDS])


@dataclass(frozen=True)
class Login:
    access_token: str
    expires_in: int
    account_id: UUID


def _mail(services: Services, tenant: TenantRow, kind: Kind, to: str, token: str | None) -> Mail:
    base = f"{services.config.server.base_url}/{tenant.slug}"
    auth = services.config.auth
    link, hours = {
        "confirm_email": (f"{base}/confirm?token={token}", auth.confirm_token_hours),
        "reset_password": (f"{base}/reset?token={token}", auth.reset_token_hours),
        "already_registered": (f"{base}/login", 0.0),
    }[kind]
    rendered = render(tenant.locale, kind, tenant=tenant.name, link=link, hours=hours)
    return Mail(to=to, subject=rendered.subject, text=rendered.text, html=rendered.html)


async def _new_token(db: asyncpg.Connection, services: Services, tenant: TenantRow, account_id: UUID,
                     purpose: Literal["confirm_email", "reset_password"]) -> str:
    hours = (services.config.auth.confirm_token_hours if purpose == "confirm_email"
             else services.config.auth.reset_token_hours)
    token = secrets.token_urlsafe(32)
    await accounts.create_token(db, tenant.id, account_id, purpose, token, hours * HOUR)
    return token


async def _per_ip(services: Services, tenant: TenantRow, action: str, ip: str) -> None:
    await rate_limits.enforce(services.pool, f"{action}:ip:{tenant.id}:{ip}",
                              effective_limits(services.config, tenant).register_per_ip_per_hour,
                              HOUR)


async def _mail_allowed(services: Services, tenant: TenantRow, email: str) -> bool:
    """Count a mail to this address; False past the per-address limit (then none is sent)."""
    allowed = await rate_limits.within(
        services.pool, f"mail:{tenant.id}:{rate_limits.key(email)}",
        effective_limits(services.config, tenant).email_per_address_per_hour, HOUR)
    if not allowed:
        log.info("account mail suppressed: per-address hourly limit reached")
    return allowed


async def register(services: Services, tenant: TenantRow, email: str, password: str, ip: str) -> None:
    await _per_ip(services, tenant, "register", ip)
    mail_allowed = await _mail_allowed(services, tenant, email)
    password_hash = await services.passwords.hash(password)  # also when the email is taken
    async with services.pool.acquire() as connection, connection.transaction():
        account = await accounts.register(connection, tenant.id, email, password_hash)
        if account is None:
            return
        if account.confirmed:
            mail = _mail(services, tenant, "already_registered", email, None)
        else:  # new, or registered before and never confirmed: a fresh link
            token = await _new_token(connection, services, tenant, account.id, "confirm_email")
            mail = _mail(services, tenant, "confirm_email", email, token)
    if mail_allowed:
        services.mailer.enqueue(mail)


async def resend_confirmation(services: Services, tenant: TenantRow, email: str, ip: str) -> None:
    await _send_token_mail(services, tenant, email, ip, "resend", "confirm_email")


async def forgot_password(services: Services, tenant: TenantRow, email: str, ip: str) -> None:
    await _send_token_mail(services, tenant, email, ip, "forgot", "reset_password")


async def _send_token_mail(services: Services, tenant: TenantRow, email: str, ip: str, action: str,
                           purpose: Literal["confirm_email", "reset_password"]) -> None:
    """Resend and forgot: a new token and its mail, when the account exists and needs one."""
    await _per_ip(services, tenant, action, ip)
    if not await _mail_allowed(services, tenant, email):
        return
    async with services.pool.acquire() as connection, connection.transaction():
        try:
            account = await accounts.by_email(connection, tenant.id, email)
        except errors.NotFound:
            return
        if purpose == "confirm_email" and account.confirmed:
            return
        token = await _new_token(connection, services, tenant, account.id, purpose)
    services.mailer.enqueue(_mail(services, tenant, purpose, email, token))


async def confirm_email(services: Services, tenant: TenantRow, token: str) -> None:
    try:
        await accounts.spend_token(services.pool, tenant.id, token, "confirm_email")
    except errors.NotFound:
        raise errors.ValidationFailed(BAD_CONFIRM_TOKEN, code="invalid_confirmation_token") from None


async def reset_password(services: Services, tenant: TenantRow, token: str, password: str,
                         ip: str) -> None:
    # Counted per address, and the token checked, before bcrypt: a stream of guessed tokens
    # must not occupy the hashing threads that logins share.
    await _per_ip(services, tenant, "reset", ip)
    if not await accounts.token_is_live(services.pool, tenant.id, token, "reset_password"):
        raise errors.ValidationFailed(BAD_RESET_TOKEN, code="invalid_reset_token")
    password_hash = await services.passwords.hash(password)
    try:
        await accounts.spend_token(services.pool, tenant.id, token, "reset_password", password_hash)
    except errors.NotFound:
        raise errors.ValidationFailed(BAD_RESET_TOKEN, code="invalid_reset_token") from None


async def login(services: Services, tenant: TenantRow, email: str, password: str, ip: str,
                guest_user_id: str | None = None) -> Login:
    auth = services.config.auth
    failure_limits = {f"login:email:{tenant.id}:{rate_limits.key(email)}": auth.login_failures_per_email,
                      f"login:ip:{tenant.id}:{ip}": auth.login_failures_per_ip}
    window = auth.login_failure_window_seconds
    # Every attempt is counted before the password is checked, and a success takes its hit
    # back: a burst of parallel guesses cannot all slip in before the first failure counts.
    rate_limits.refuse(await rate_limits.hit(services.pool, list(failure_limits), window),
                       failure_limits, counted=True, detail=TOO_MANY_FAILURES)
    try:
        account: accounts.CredentialsRow | None = await accounts.by_email(services.pool, tenant.id, email)
    except errors.NotFound:
        account = None
    if not await services.passwords.verify(password, account.password_hash if account else None):
        raise errors.Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
    assert account is not None
    await rate_limits.forgive(services.pool, list(failure_limits), window)
    if not account.confirmed:
        raise errors.Forbidden(EMAIL_NOT_CONFIRMED, code="email_not_confirmed")
    if guest_user_id is not None:
        await _merge_guest(services, tenant, guest_user_id, account.id)
    token = identity.issue_token(auth.jwt_secret, account_id=account.id, tenant_id=tenant.id,
                                 expire_minutes=auth.jwt_expire_minutes)
    return Login(access_token=token, expires_in=auth.jwt_expire_minutes * 60, account_id=account.id)


async def _merge_guest(services: Services, tenant: TenantRow, guest_id: str, account_id: UUID) -> None:
    async with services.pool.acquire() as connection, connection.transaction():
        if await identity.is_account_id(connection, tenant.id, guest_id):
            raise errors.ValidationFailed(GUEST_IS_ACCOUNT, code="invalid_guest_user_id")
        merged = await guest_merge.merge(connection, tenant.id, guest_id, account_id)
    log.info("guest merged into account: %d dialog(s), %d saved item(s) (%d duplicate(s) dropped), "
             "profile %s", merged.dialogs, merged.saved_items, merged.duplicates_dropped,
             "merged" if merged.profile else "none")
