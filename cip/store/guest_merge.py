"""Moving a guest's data to an account when the visitor logs in (SPEC §5).

Dialogs move; saved items move unless the account saved the same reference already (then the
guest's copy goes); the guest's profile fills the account profile's empty fields. Callers run
`merge` inside one transaction.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
from pydantic import BaseModel

from cip.sql import queries

Q = queries("guest_merge")


class MergedRow(BaseModel):
    dialogs: int
    saved_items: int
    duplicates_dropped: int
    profile: bool


async def merge(connection: asyncpg.Connection, tenant_id: UUID, guest_id: str, account_id: UUID) -> MergedRow:
    account = str(account_id)
    dialogs = await connection.fetch(Q.move_dialogs, tenant_id, guest_id, account)
    saved = await connection.fetch(Q.move_saved_items, tenant_id, guest_id, account)
    dropped = await connection.fetch(Q.drop_guest_saved_items, tenant_id, guest_id)
    profile = await connection.fetch(Q.move_profile, tenant_id, guest_id, account)
    return MergedRow(dialogs=len(dialogs), saved_items=len(saved),
                     duplicates_dropped=len(dropped), profile=bool(profile))
