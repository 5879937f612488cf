"""Account rules (SPEC §6 "Accounts"): registration, confirmation, login, password reset.

No answer tells whether an email has an account: registration, resend and forgot answer the
same either way (a taken email gets a different mail, not a different response), and
registration hashes the password either way. Resend and forgot write a token only for an
existing account, a difference of one small insert. Mails are queued only after the
transaction that made their token commits.
Passwords: a confirmation link activates the password of the one registration it was mailed
for. When an unconfirmed address is registered again, nobody can tell which registration was
its owner's: its earlier links stop working, the account has no password, and the mail (and
any resend) asks the owner to choose one, which also confirms the address. So confirming never
activates a password someone else set, and nothing reaches an account before its owner does:
no token is issued for an unconfirmed account, so nobody can log in to merge guest data.
Throttling: failed logins per email and client IP, per client IP, and per email (429); register
/ resend / forgot / reset per IP (429); mails per address and client IP, and per address
(silently none past the limit, so the limit says nothing either). A client IP past its own
limits is refused before the per-address limit counts the request, so one attacker cannot use
that limit up and lock the owner out from everywhere.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg

from cip import errors
from cip.accounts.identity import Identities, is_account_id
from cip.accounts.mail_texts import Kind, render
from cip.accounts.mailer import Mail, Mailer
from cip.accounts.passwords import PasswordHasher
from cip.config import Config
from cip.db.queries import Executor
from cip.db.store import credentials, guest_merge
from cip.limits import HOUR, RateLimiter, private
from cip.tenancy import Tenant

log = logging.getLogger(__name__)

REGISTER_ACCEPTED = "Thank you! Check your inbox: we have sent you an email with the next step."
RESEND_ACCEPTED = (
    "If an unconfirmed account uses this address, a new confirmation link is on its way."
)
FORGOT_ACCEPTED = "If an account uses this address, a link to reset the password is on its way."
EMAIL_CONFIRMED = "Your email is confirmed. You can log in now."
PASSWORD_CHANGED = "Your password has been changed. Please log in with the new password."
BAD_CONFIRM_TOKEN = "This confirmation link is unknown, used or expired. Ask for a new one."
BAD_RESET_TOKEN = "This password reset link is unknown, used or expired. Ask for a new one."
BAD_CREDENTIALS = "Wrong email or password."
EMAIL_NOT_CONFIRMED = "Please confirm your email first: follow the link in the mail we sent you."
TOO_MANY_FAILURES = "Too many failed logins. Please wait and try again."
GUEST_IS_ACCOUNT = "guest_user_id must be a guest id, not an account id."

TokenKind = Literal["confirm_email", "choose_password", "reset_password"]
# A mail with a token: the token's purpose and the page its link opens. Choosing the password
# is a reset (which also confirms the address).
TOKEN_LINKS: dict[TokenKind, tuple[credentials.Purpose, str]] = {
    "confirm_email": ("confirm_email", "confirm"),
    "choose_password": ("reset_password", "reset"),
    "reset_password": ("reset_password", "reset"),
}


@dataclass(frozen=True)
class Login:
    access_token: str
    expires_in: int
    account_id: UUID


class Accounts:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        config: Config,
        mailer: Mailer,
        passwords: PasswordHasher,
        limiter: RateLimiter,
        identities: Identities,
    ) -> None:
        self._pool = pool
        self._config = config
        self._mailer = mailer
        self._passwords = passwords
        self._limiter = limiter
        self._identities = identities

    async def register(self, tenant: Tenant, email: str, password: str, ip: str) -> None:
        await self._per_ip(tenant, "register", ip)
        mail_allowed = await self._mail_allowed(tenant, email, ip)
        password_hash = await self._passwords.hash(password)  # also when the email is taken
        async with self._pool.acquire() as connection, connection.transaction():
            account = await credentials.register(
                connection, tenant_id=tenant.id, email=email, password_hash=password_hash
            )
            if account is None:
                return
            if account.created:
                mail = await self._token_mail(connection, tenant, account, "confirm_email")
            elif account.confirmed or not await credentials.register_again(
                connection, tenant_id=tenant.id, account_id=account.id
            ):
                mail = self._mail(tenant, "already_registered", email, "login")
            else:  # registered again before confirmation: the mailbox's owner sets the password
                mail = await self._token_mail(connection, tenant, account, "choose_password")
        if mail_allowed:
            self._mailer.enqueue(mail)

    async def resend_confirmation(self, tenant: Tenant, email: str, ip: str) -> None:
        await self._send_token_mail(tenant, email, ip, "resend", "confirm_email")

    async def forgot_password(self, tenant: Tenant, email: str, ip: str) -> None:
        await self._send_token_mail(tenant, email, ip, "forgot", "reset_password")

    async def confirm_email(self, tenant: Tenant, token: str) -> None:
        try:
            await credentials.spend_token(
                self._pool, tenant_id=tenant.id, token=token, purpose="confirm_email"
            )
        except errors.NotFound:
            raise errors.ValidationFailed(
                BAD_CONFIRM_TOKEN, code="invalid_confirmation_token"
            ) from None

    async def reset_password(self, tenant: Tenant, token: str, password: str, ip: str) -> None:
        # Counted per address, and the token checked, before bcrypt: a stream of guessed tokens
        # must not occupy the hashing threads that logins share.
        await self._per_ip(tenant, "reset", ip)
        live = await credentials.token_is_live(
            self._pool, tenant_id=tenant.id, token=token, purpose="reset_password"
        )
        if not live:
            raise errors.ValidationFailed(BAD_RESET_TOKEN, code="invalid_reset_token")
        password_hash = await self._passwords.hash(password)
        try:
            await credentials.spend_token(
                self._pool,
                tenant_id=tenant.id,
                token=token,
                purpose="reset_password",
                password_hash=password_hash,
            )
        except errors.NotFound:
            raise errors.ValidationFailed(BAD_RESET_TOKEN, code="invalid_reset_token") from None

    async def login(
        self, tenant: Tenant, email: str, password: str, ip: str, guest_user_id: str | None = None
    ) -> Login:
        auth = self._config.auth
        address = private(email)
        from_here = {
            f"login:email-ip:{tenant.id}:{address}:{ip}": auth.login_failures_per_email_and_ip,
            f"login:ip:{tenant.id}:{ip}": auth.login_failures_per_ip,
        }
        from_anywhere = {f"login:email:{tenant.id}:{address}": auth.login_failures_per_email}
        window = auth.login_failure_window_seconds
        # Every attempt is counted before the password is checked, and a success takes its hit
        # back: a burst of parallel guesses cannot all slip in before the first failure counts.
        # An attempt refused from here never reaches the address's own count.
        await self._limiter.check(from_here, window, TOO_MANY_FAILURES)
        await self._limiter.check(from_anywhere, window, TOO_MANY_FAILURES)
        account: credentials.CredentialsRow | None
        try:
            account = await credentials.by_email(self._pool, tenant_id=tenant.id, email=email)
        except errors.NotFound:
            account = None
        # An unknown email costs the same bcrypt work as a wrong password, and answers the same.
        known_hash = account.password_hash if account else None
        if not await self._passwords.verify(password, known_hash) or account is None:
            raise errors.Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
        await self._limiter.forgive([*from_here, *from_anywhere], window)
        if not account.confirmed:
            raise errors.Forbidden(EMAIL_NOT_CONFIRMED, code="email_not_confirmed")
        if guest_user_id is not None:
            await self._merge_guest(tenant, guest_user_id, account.id)
        token = self._identities.issue_token(
            account_id=account.id, tenant_id=tenant.id, expire_minutes=auth.jwt_expire_minutes
        )
        return Login(
            access_token=token, expires_in=auth.jwt_expire_minutes * 60, account_id=account.id
        )

    async def _merge_guest(self, tenant: Tenant, guest_id: str, account_id: UUID) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            if await is_account_id(connection, tenant.id, guest_id):
                raise errors.ValidationFailed(GUEST_IS_ACCOUNT, code="invalid_guest_user_id")
            merged = await guest_merge.merge(
                connection, tenant_id=tenant.id, guest_id=guest_id, account_id=account_id
            )
        log.info(
            "guest merged into account: %d dialog(s), %d saved item(s) (%d duplicate(s) "
            "dropped), profile %s",
            merged.dialogs,
            merged.saved_items,
            merged.duplicates_dropped,
            "merged" if merged.profile else "none",
        )

    async def _send_token_mail(
        self, tenant: Tenant, email: str, ip: str, action: str, kind: TokenKind
    ) -> None:
        """Resend and forgot: a new token and its mail, when the account exists and needs one."""
        await self._per_ip(tenant, action, ip)
        if not await self._mail_allowed(tenant, email, ip):
            return
        async with self._pool.acquire() as connection, connection.transaction():
            try:
                account = await credentials.by_email(connection, tenant_id=tenant.id, email=email)
            except errors.NotFound:
                return
            if kind == "confirm_email":
                if account.confirmed:
                    return
                if account.password_hash is None:  # registered more than once
                    kind = "choose_password"
            mail = await self._token_mail(connection, tenant, account, kind)
        self._mailer.enqueue(mail)

    async def _per_ip(self, tenant: Tenant, action: str, ip: str) -> None:
        limit = tenant.settings.limits.register_per_ip_per_hour
        await self._limiter.check({f"{action}:ip:{tenant.id}:{ip}": limit}, HOUR)

    async def _mail_allowed(self, tenant: Tenant, email: str, ip: str) -> bool:
        """Count a mail to this address asked for from this client IP; False past either limit
        (then none is sent). Past the limit of its IP a request is not counted for the address,
        so one requester cannot use up the mails the owner may ask for."""
        limits = tenant.settings.limits
        address = private(email)
        allowed = await self._limiter.allows(
            f"mail:ip:{tenant.id}:{address}:{ip}", limits.email_per_address_and_ip_per_hour, HOUR
        ) and await self._limiter.allows(
            f"mail:{tenant.id}:{address}", limits.email_per_address_per_hour, HOUR
        )
        if not allowed:
            log.info("account mail suppressed: an hourly limit of mails to the address reached")
        return allowed

    async def _token_mail(
        self, db: Executor, tenant: Tenant, account: credentials.AccountRow, kind: TokenKind
    ) -> Mail:
        """A new token for the account, and the mail of `kind` that carries its link (a link
        to choose the password lives as long as a confirmation link)."""
        auth = self._config.auth
        purpose, page = TOKEN_LINKS[kind]
        hours = auth.reset_token_hours if kind == "reset_password" else auth.confirm_token_hours
        token = secrets.token_urlsafe(32)
        await credentials.create_token(
            db,
            tenant_id=tenant.id,
            account_id=account.id,
            purpose=purpose,
            token=token,
            lifetime_seconds=hours * HOUR,
        )
        return self._mail(tenant, kind, account.email, f"{page}?token={token}", hours)

    def _mail(self, tenant: Tenant, kind: Kind, to: str, path: str, hours: float = 0) -> Mail:
        link = f"{self._config.server.base_url}/{tenant.slug}/{path}"
        rendered = render(tenant.settings.locale, kind, tenant=tenant.name, link=link, hours=hours)
        return Mail(to=to, subject=rendered.subject, text=rendered.text, html=rendered.html)
