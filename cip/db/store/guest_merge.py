"""Moving a guest's data to an account when the visitor logs in (SPEC §5).

Dialogs move; saved items move unless the account saved the same reference already (then the
guest's copy goes); ratings of answers follow their answers; the guest's profile fills the
account profile's empty fields. Callers run `merge` inside one transaction.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from cip.db.queries import Executor, queries

Q = queries("guest_merge")


class MergedRow(BaseModel):
    dialogs: int
    saved_items: int
    duplicates_dropped: int
    profile: bool


async def merge(db: Executor, *, tenant_id: UUID, guest_id: str, account_id: UUID) -> MergedRow:
    ids = {"tenant_id": tenant_id, "guest_id": guest_id}
    account = {"account_id": str(account_id)}
    dialogs = await Q.move_dialogs.fetch(db, **ids, **account)
    saved = await Q.move_saved_items.fetch(db, **ids, **account)
    dropped = await Q.drop_guest_saved_items.fetch(db, **ids)
    await Q.move_feedback.execute(db, **ids, **account)
    profile = await Q.move_profile.fetch(db, **ids, **account)
    return MergedRow(
        dialogs=len(dialogs),
        saved_items=len(saved),
        duplicates_dropped=len(dropped),
        profile=bool(profile),
    )
