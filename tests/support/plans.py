"""Rows enough for PostgreSQL to plan as it would for a real tenant, and the nodes of a plan:
what the plan tests of the dialog list and of the search share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from cip.db.queries import Executor

HEAVY_USER = "heavy-visitor"


async def load(
    connection: Executor,
    tenant_id: UUID,
    *,
    heavy_dialogs: int,
    other_dialogs: int,
    messages_per_dialog: int,
) -> None:
    """`heavy_dialogs` dialogs of HEAVY_USER among `other_dialogs` of 30,000 other visitors,
    each with alternating user/assistant messages, then fresh statistics."""
    await connection.execute(
        """
        INSERT INTO dialog (tenant_id, user_id, title, created_at, updated_at)
        SELECT $1, CASE WHEN n <= $2 THEN $4 ELSE 'visitor-' || (n % 30000) END, 'dialog ' || n,
               now() - n * interval '1 minute', now() - n * interval '1 minute'
        FROM generate_series(1, $2::integer + $3::integer) AS n
        """,
        tenant_id,
        heavy_dialogs,
        other_dialogs,
        HEAVY_USER,
    )
    await connection.execute(
        """
        INSERT INTO message (tenant_id, dialog_id, role, content, created_at, updated_at)
        SELECT dialog.tenant_id, dialog.id, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               'message ' || k || ' of ' || dialog.title,
               dialog.created_at + k * interval '1 second',
               dialog.created_at + k * interval '1 second'
        FROM dialog CROSS JOIN generate_series(1, $2) AS k
        WHERE dialog.tenant_id = $1
        """,
        tenant_id,
        messages_per_dialog,
    )
    await connection.execute("VACUUM ANALYZE dialog")
    await connection.execute("VACUUM ANALYZE message")


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
