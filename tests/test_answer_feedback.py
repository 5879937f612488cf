"""`…/messages/{message_id}/feedback`: a visitor's rating of an answer in their own dialogs
(create, change, clear), and the marks the dialog view gives each answer: the caller's saved
item of it and their rating."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from support.cabinet_data import CabinetData, guest, iso
from support.fixtures import Client, NewTenant


def feedback_url(tenant_id: UUID, message_id: Any) -> str:
    return f"/api/v1/tenants/{tenant_id}/messages/{message_id}/feedback"


async def feedback_rows(pool: asyncpg.Pool, tenant_id: UUID) -> list[tuple[Any, ...]]:
    return [
        tuple(record)
        for record in await pool.fetch(
            "SELECT message_id, user_id, rating, comment FROM message_feedback "
            "WHERE tenant_id = $1 ORDER BY message_id",
            tenant_id,
        )
    ]


async def test_a_rating_is_given_changed_and_cleared(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi"), ("assistant", "Hello")])
    _, answer = await data.messages_of(tenant.id, dialog_id)

    response = await client.post(
        feedback_url(tenant.id, answer), headers=guest("alice"), json={"rating": "up"}
    )
    assert response.status == 200
    body = await response.json()
    [updated_at] = await pool.fetch(
        "SELECT updated_at FROM message_feedback WHERE tenant_id = $1", tenant.id
    )
    assert body == {
        "message_id": str(answer),
        "rating": "up",
        "comment": None,
        "updated_at": iso(updated_at["updated_at"]),
    }
    assert await feedback_rows(pool, tenant.id) == [(answer, "alice", "up", None)]

    changed = await client.post(
        feedback_url(tenant.id, answer),
        headers=guest("alice"),
        json={"rating": "down", "comment": "  Too vague.  "},
    )
    assert changed.status == 200
    assert (await changed.json())["comment"] == "Too vague."
    assert await feedback_rows(pool, tenant.id) == [(answer, "alice", "down", "Too vague.")]

    cleared = await client.delete(feedback_url(tenant.id, answer), headers=guest("alice"))
    assert cleared.status == 204
    assert await feedback_rows(pool, tenant.id) == []
    again = await client.delete(feedback_url(tenant.id, answer), headers=guest("alice"))
    assert again.status == 204  # nothing to clear: still the visitor's answer


async def test_only_ones_own_answers_can_be_rated(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant, other_tenant = await new_tenant(), await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi"), ("assistant", "Hello")])
    question, answer = await data.messages_of(tenant.id, dialog_id)
    refusals = [
        (tenant.id, answer, "mallory"),  # another visitor's answer
        (other_tenant.id, answer, "alice"),  # another tenant's
        (tenant.id, question, "alice"),  # a question, not an answer
        (tenant.id, "6f1c2a7e-0000-4000-8000-000000000000", "alice"),  # no such message
    ]
    for tenant_id, message_id, user in refusals:
        for method in ("POST", "DELETE"):
            response = await client.request(
                method, feedback_url(tenant_id, message_id), headers=guest(user),
                json={"rating": "up"} if method == "POST" else None,
            )  # fmt: skip
            assert response.status == 404, (method, message_id, user)
            assert (await response.json())["code"] == "message_not_found"
    assert await feedback_rows(pool, tenant.id) == []


async def test_a_bad_rating_or_a_long_comment_is_refused(
    client: Client, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    dialog_id = await data.dialog(tenant.id, "alice", [("user", "hi"), ("assistant", "Hello")])
    _, answer = await data.messages_of(tenant.id, dialog_id)
    for body in (
        {"rating": "meh"},
        {},
        {"rating": "up", "comment": "x" * 1001},
        {"rating": "up", "extra": 1},
    ):
        response = await client.post(
            feedback_url(tenant.id, answer), headers=guest("alice"), json=body
        )
        assert response.status == 400, body
    longest = await client.post(
        feedback_url(tenant.id, answer),
        headers=guest("alice"),
        json={"rating": "up", "comment": "x" * 1000},
    )
    assert longest.status == 200
    no_identity = await client.post(feedback_url(tenant.id, answer), json={"rating": "up"})
    assert no_identity.status == 400
    bad_id = await client.post(
        feedback_url(tenant.id, "not-a-uuid"), headers=guest("alice"), json={"rating": "up"}
    )
    assert bad_id.status == 400
    assert len(await feedback_rows(pool, tenant.id)) == 1


async def test_the_dialog_view_says_what_the_caller_saved_and_rated(
    client: Client, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant()
    turns = [("user", "one"), ("assistant", "First"), ("user", "two"), ("assistant", "Second")]
    dialog_id = await data.dialog(tenant.id, "alice", turns)
    _, first, _, second = await data.messages_of(tenant.id, dialog_id)
    saved = await client.post(
        f"/api/v1/tenants/{tenant.id}/me/saved",
        headers=guest("alice"),
        json={"type": "message", "reference_id": str(second)},
    )
    saved_id = (await saved.json())["id"]
    await client.post(
        feedback_url(tenant.id, first), headers=guest("alice"), json={"rating": "down"}
    )

    async def marks() -> list[tuple[Any, Any]]:
        response = await client.get(
            f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}", headers=guest("alice")
        )
        assert response.status == 200
        return [(m["saved_item_id"], m["feedback"]) for m in (await response.json())["messages"]]

    assert await marks() == [(None, None), (None, "down"), (None, None), (saved_id, None)]
    await client.delete(f"/api/v1/tenants/{tenant.id}/me/saved/{saved_id}", headers=guest("alice"))
    await client.delete(feedback_url(tenant.id, first), headers=guest("alice"))
    assert await marks() == [(None, None)] * 4
