"""Fixtures for cabinet tests: dialogs, messages and accounts written with plain SQL (the way
the chat and account code writes them), tokens minted with `cip.identity.issue_token`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pydantic import TypeAdapter

from cip.accounts.identity import issue_token
from cip.config import Config


@dataclass
class CabinetData:
    pool: asyncpg.Pool
    secret: str  # the app's JWT secret

    async def dialog(
        self,
        tenant_id: UUID,
        user_id: str,
        messages: Iterable[tuple[str, str]] = (),
        *,
        title: str = "",
    ) -> UUID:
        """A dialog with `(role, content)` messages in order, each bumping `updated_at`."""
        dialog_id: UUID = await self.pool.fetchval(
            "INSERT INTO dialog (tenant_id, user_id, title) VALUES ($1, $2, $3) RETURNING id",
            tenant_id,
            user_id,
            title,
        )
        for role, content in messages:
            await self.message(tenant_id, dialog_id, role, content)
        return dialog_id

    async def message(
        self, tenant_id: UUID, dialog_id: UUID, role: str, content: str, status: str = "complete"
    ) -> UUID:
        """Adds a message and bumps the dialog's `updated_at`, in one statement."""
        message_id: UUID = await self.pool.fetchval(
            """
            WITH added AS (
                INSERT INTO message (tenant_id, dialog_id, role, content, status)
                VALUES ($1, $2, $3, $4, $5)
                RETURNING id, created_at
            ), bumped AS (
                UPDATE dialog SET updated_at = added.created_at
                FROM added WHERE dialog.tenant_id = $1 AND dialog.id = $2
            )
            SELECT id FROM added
            """,
            tenant_id,
            dialog_id,
            role,
            content,
            status,
        )
        return message_id

    async def messages_of(self, tenant_id: UUID, dialog_id: UUID) -> list[UUID]:
        return [
            record["id"]
            for record in await self.pool.fetch(
                "SELECT id FROM message WHERE tenant_id = $1 AND dialog_id = $2"
                " ORDER BY created_at, id",
                tenant_id,
                dialog_id,
            )
        ]

    async def account(self, tenant_id: UUID, email: str | None = None) -> UUID:
        account_id: UUID = await self.pool.fetchval(
            """INSERT INTO account (tenant_id, email, password_hash, email_confirmed_at)
               VALUES ($1, $2, 'not-a-real-hash', now()) RETURNING id""",
            tenant_id,
            email or f"{uuid.uuid4().hex[:10]}@example.com",
        )
        return account_id

    async def change_password(self, tenant_id: UUID, account_id: UUID) -> None:
        await self.pool.execute(
            "UPDATE account SET password_changed_at = clock_timestamp()"
            " WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            account_id,
        )

    def token(self, tenant_id: UUID, account_id: UUID, expire_minutes: int = 60) -> str:
        return issue_token(
            self.secret, account_id=account_id, tenant_id=tenant_id, expire_minutes=expire_minutes
        )

    def bearer(self, tenant_id: UUID, account_id: UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant_id, account_id)}"}

    async def rows(self, table: str, tenant_id: UUID) -> list[dict[str, Any]]:
        """Every row of a tenant-owned table, in a stable order, to compare before and after."""
        assert table in {"dialog", "message", "saved_item", "user_profile", "account"}
        records = await self.pool.fetch(
            f"SELECT * FROM {table} WHERE tenant_id = $1 ORDER BY 1, 2, 3", tenant_id
        )
        return [dict(record) for record in records]


ISO = TypeAdapter(datetime)


def iso(value: datetime) -> str:
    """A time as the API writes it in JSON."""
    text: str = ISO.dump_python(value, mode="json")
    return text


def parse_iso(text: str) -> datetime:
    return ISO.validate_python(text)


async def one_row(db: asyncpg.Pool, query: str, *args: Any) -> dict[str, Any]:
    """The one row a query must find, as a dict."""
    record = await db.fetchrow(query, *args)
    assert record is not None, query
    return dict(record)


def guest(user_id: str) -> dict[str, str]:
    return {"X-User-Id": user_id}


@pytest.fixture
def data(pool: asyncpg.Pool, config: Config) -> CabinetData:
    return CabinetData(pool, config.auth.jwt_secret)
