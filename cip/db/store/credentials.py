"""Accounts as sign-in sees them, and their one-time tokens (email confirmation, password
reset). An unconfirmed account registered more than once has no password until its owner
chooses one.

Tokens reach the user in mails; only their SHA-256 is stored, and spending one is a single
UPDATE that succeeds once, before the token expires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from cip import errors
from cip.db.queries import Executor, queries

Q = queries("credentials")
Purpose = Literal["confirm_email", "reset_password"]
ACCOUNT_NOT_FOUND = "Account not found."
TOKEN_NOT_FOUND = "Token not found, used or expired."


class AccountRow(BaseModel):
    id: UUID
    email: str
    email_confirmed_at: datetime | None

    @property
    def confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class RegisteredRow(AccountRow):
    created: bool


class CredentialsRow(AccountRow):
    password_hash: str | None  # None: registered more than once, no password chosen yet


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def register(
    db: Executor, *, tenant_id: UUID, email: str, password_hash: str
) -> RegisteredRow | None:
    """The new account, or the one holding the email already (None under a concurrent race)."""
    record = await Q.register.fetchrow(
        db, tenant_id=tenant_id, email=email, password_hash=password_hash
    )
    return RegisteredRow.model_validate(dict(record)) if record else None


async def register_again(db: Executor, *, tenant_id: UUID, account_id: UUID) -> bool:
    """The unconfirmed account's address was registered once more: its confirmation links stop
    working and it has no password until one is chosen through a mailed link. False when the
    account was confirmed meanwhile (then nothing changed). Run it in a transaction."""
    ids = {"tenant_id": tenant_id, "account_id": account_id}
    await Q.void_confirmations.execute(db, **ids)
    return await Q.unset_password.fetchrow(db, **ids) is not None


async def by_email(db: Executor, *, tenant_id: UUID, email: str) -> CredentialsRow:
    record = await Q.by_email.fetchrow(db, tenant_id=tenant_id, email=email)
    if record is None:
        raise errors.NotFound(ACCOUNT_NOT_FOUND, code="account_not_found")
    return CredentialsRow.model_validate(dict(record))


async def password_changed_at(
    db: Executor, *, tenant_id: UUID, account_id: UUID
) -> datetime | None:
    """When the account's password last changed (its tokens must not be older); None when
    the tenant has no such account."""
    changed_at: datetime | None = await Q.password_changed_at.fetchval(
        db, tenant_id=tenant_id, account_id=account_id
    )
    return changed_at


async def accounts_among(
    db: Executor, *, tenant_id: UUID, account_ids: Sequence[UUID]
) -> set[UUID]:
    """The ids of `account_ids` that are the tenant's accounts."""
    records = await Q.accounts_among.fetch(db, tenant_id=tenant_id, account_ids=list(account_ids))
    return {record["id"] for record in records}


async def create_token(
    db: Executor,
    *,
    tenant_id: UUID,
    account_id: UUID,
    purpose: Purpose,
    token: str,
    lifetime_seconds: float,
) -> datetime:
    """Store a token's hash; its expiry."""
    expires_at: datetime = await Q.create_token.fetchval(
        db,
        tenant_id=tenant_id,
        token_hash=token_hash(token),
        account_id=account_id,
        purpose=purpose,
        lifetime_seconds=lifetime_seconds,
    )
    return expires_at


async def token_is_live(db: Executor, *, tenant_id: UUID, token: str, purpose: Purpose) -> bool:
    live: bool = await Q.token_is_live.fetchval(
        db, tenant_id=tenant_id, token_hash=token_hash(token), purpose=purpose
    )
    return live


async def spend_token(
    db: Executor,
    *,
    tenant_id: UUID,
    token: str,
    purpose: Purpose,
    password_hash: str | None = None,
) -> AccountRow:
    """Spend a token and confirm its account's email; for a reset, set `password_hash` too.
    NotFound when the token is unknown, of another purpose, used or expired."""
    record = await Q.spend_token.fetchrow(
        db,
        tenant_id=tenant_id,
        token_hash=token_hash(token),
        purpose=purpose,
        password_hash=password_hash,
    )
    if record is None:
        raise errors.NotFound(TOKEN_NOT_FOUND, code="token_not_found")
    return AccountRow.model_validate(dict(record))


async def prune_tokens(db: Executor) -> None:
    await Q.prune_tokens.execute(db)
