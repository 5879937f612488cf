"""Accounts and their one-time tokens (email confirmation, password reset).

Tokens reach the user in mails; only their SHA-256 is stored, and spending one is a single
UPDATE that succeeds once, before the token expires.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.errors import NotFound
from cip.sql import queries

Q = queries("accounts")
Executor = asyncpg.Connection | asyncpg.Pool
Purpose = Literal["confirm_email", "reset_password"]
ACCOUNT_NOT_FOUND = "Account not found."


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
    password_hash: str


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def register(db: Executor, tenant_id: UUID, email: str, password_hash: str) -> RegisteredRow | None:
    """The new account, or the one holding the email already (None under a concurrent race)."""
    record = await db.fetchrow(Q.register, tenant_id, email, password_hash)
    return RegisteredRow.model_validate(dict(record)) if record else None


async def by_email(db: Executor, tenant_id: UUID, email: str) -> CredentialsRow:
    record = await db.fetchrow(Q.by_email, tenant_id, email)
    if record is None:
        raise NotFound(ACCOUNT_NOT_FOUND, code="account_not_found")
    return CredentialsRow.model_validate(dict(record))


async def create_token(db: Executor, tenant_id: UUID, account_id: UUID, purpose: Purpose,
                       token: str, lifetime_seconds: float) -> datetime:
    """Store a token's hash; its expiry."""
    expires_at: datetime = await db.fetchval(
        Q.create_token, tenant_id, token_hash(token), account_id, purpose, lifetime_seconds)
    return expires_at


async def token_is_live(db: Executor, tenant_id: UUID, token: str, purpose: Purpose) -> bool:
    live: bool = await db.fetchval(Q.token_is_live, tenant_id, token_hash(token), purpose)
    return live


async def spend_token(db: Executor, tenant_id: UUID, token: str, purpose: Purpose,
                      password_hash: str | None = None) -> AccountRow:
    """Spend a token and confirm its account's email; for a reset, set `password_hash` too.
    NotFound when the token is unknown, of another purpose, used or expired."""
    record = await db.fetchrow(Q.spend_token, tenant_id, token_hash(token), purpose, password_hash)
    if record is None:
        raise NotFound("Token not found, used or expired.", code="token_not_found")
    return AccountRow.model_validate(dict(record))


async def prune_tokens(db: Executor) -> None:
    await db.execute(Q.prune_tokens)
