"""`POST …/chat/{message_id}/regenerate`: the question of the dialog's latest answer is answered
again as a new answer in the same dialog, streamed like a chat; the earlier answer is kept,
superseded (left out of what later questions send upstream), and the dialog view says which
answer is which ("answer 1 of 2")."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from support.chat_client import guest, post_chat
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant
from support.sse_events import parse_sse

Client = TestClient[Any, Any]


async def ask(client: Client, tenant: Any, user: str, message: str, **body: Any) -> Any:
    response = await post_chat(client, tenant, user_id=user, message=message, **body)
    assert response.status == 200, await response.text()
    return parse_sse(await response.text())[0][1]


async def regenerate(client: Client, tenant: Any, user: str, message_id: str) -> Any:
    return await client.post(
        f"/api/v1/tenants/{tenant.id}/chat/{message_id}/regenerate", headers={"X-User-Id": user}
    )


async def view(client: Client, tenant: Any, user: str, dialog_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}", headers={"X-User-Id": user}
    )
    assert response.status == 200
    messages: list[dict[str, Any]] = (await response.json())["messages"]
    return messages


async def test_the_latest_answer_is_given_again_and_both_are_kept(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=["First ", "answer."])
    first = await ask(chat_client, tenant, user, "Hello?")
    fake_llm.script = Script(deltas=["Second ", "answer."])
    response = await regenerate(chat_client, tenant, user, first["message_id"])
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    events = parse_sse(await response.text())
    meta = events[0][1]
    assert (meta["dialog_id"], meta["user_message_id"]) == (
        first["dialog_id"],
        first["user_message_id"],
    )
    assert meta["message_id"] != first["message_id"]
    assert [data["content"] for name, data in events if name == "message" and data != "[DONE]"][
        :2
    ] == ["Second ", "answer."]
    # Upstream got the question again, without the answer it replaces.
    assert [turn["role"] for turn in fake_llm.requests[-1].json["messages"]] == ["system", "user"]
    shown = [
        (m["role"], m["content"], m["superseded"], m["answer_number"], m["answers"])
        for m in await view(chat_client, tenant, user, first["dialog_id"])
    ]
    assert shown == [
        ("user", "Hello?", False, None, None),
        ("assistant", "First answer.", True, 1, 2),
        ("assistant", "Second answer.", False, 2, 2),
    ]

    # The next question continues from the answer that stands.
    fake_llm.script = Script(deltas=["Third."])
    await ask(chat_client, tenant, user, "And then?", dialog_id=first["dialog_id"])
    sent = [(t["role"], t["content"]) for t in fake_llm.requests[-1].json["messages"][1:]]
    assert sent == [("user", "Hello?"), ("assistant", "Second answer."), ("user", "And then?")]


async def test_only_the_latest_answer_of_ones_own_can_be_given_again(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant, user = await new_tenant(), guest()
    first = await ask(chat_client, tenant, user, "One?")
    second = await ask(chat_client, tenant, user, "Two?", dialog_id=first["dialog_id"])
    requests_before = len(fake_llm.requests)

    async def refused(who: str, message_id: str) -> tuple[int, str]:
        response = await regenerate(chat_client, tenant, who, message_id)
        return response.status, (await response.json())["code"]

    assert await refused(user, first["message_id"]) == (409, "answer_not_latest")
    assert await refused(guest(), second["message_id"]) == (404, "message_not_found")
    assert await refused(user, second["user_message_id"]) == (404, "message_not_found")
    other_tenant = await new_tenant()
    response = await regenerate(chat_client, other_tenant, user, second["message_id"])
    assert response.status == 404
    again = await regenerate(chat_client, tenant, user, second["message_id"])
    assert again.status == 200
    await again.read()
    # The superseded answer is not the latest any more; the new one is.
    assert await refused(user, second["message_id"]) == (409, "answer_not_latest")
    assert len(fake_llm.requests) == requests_before + 1
    shown = await view(chat_client, tenant, user, first["dialog_id"])
    places = [(m["answer_number"], m["answers"]) for m in shown[2:]]
    assert places == [(None, None), (1, 2), (2, 2)]


async def test_an_answer_still_being_written_is_not_given_again(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=["Still going"], after="stall")
    response = await post_chat(chat_client, tenant, user_id=user, message="Long?")
    meta = parse_sse((await response.content.readuntil(b"\n\n")).decode())[0][1]
    refused = await regenerate(chat_client, tenant, user, meta["message_id"])
    assert (refused.status, (await refused.json())["code"]) == (409, "answer_in_progress")
    response.close()


async def test_an_llm_failure_leaves_the_earlier_answer_standing(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=["Kept."])
    first = await ask(chat_client, tenant, user, "Hi?")
    fake_llm.script = Script(status=500)
    response = await regenerate(chat_client, tenant, user, first["message_id"])
    assert (response.status, (await response.json())["code"]) == (502, "llm_error_status")
    shown = await view(chat_client, tenant, user, first["dialog_id"])
    assert [(m["content"], m["superseded"]) for m in shown] == [("Hi?", False), ("Kept.", False)]
    fake_llm.script = Script(deltas=["Better."])
    retried = await regenerate(chat_client, tenant, user, first["message_id"])
    assert retried.status == 200
    await retried.read()
    shown = await view(chat_client, tenant, user, first["dialog_id"])
    assert [(m["content"], m["superseded"]) for m in shown] == [
        ("Hi?", False),
        ("Kept.", True),
        ("Better.", False),
    ]


async def test_a_question_left_without_an_answer_is_answered_once_asked_again(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, user = await new_tenant(), guest()
    fake_llm.script = Script(deltas=["Fine."])
    first = await ask(chat_client, tenant, user, "Hi?")
    fake_llm.script = Script(status=503)
    failed = await post_chat(
        chat_client, tenant, user_id=user, message="And prices?", dialog_id=first["dialog_id"]
    )
    assert failed.status == 502
    stored = await failed.json()
    question = stored["user_message_id"]
    # Nobody else's, and only while nothing follows it.
    other = await regenerate(chat_client, tenant, guest(), question)
    assert (other.status, (await other.json())["code"]) == (404, "message_not_found")

    fake_llm.script = Script(deltas=["Prices ", "vary."])
    response = await regenerate(chat_client, tenant, user, question)
    assert response.status == 200
    events = parse_sse(await response.text())
    meta = events[0][1]
    assert (meta["dialog_id"], meta["user_message_id"]) == (first["dialog_id"], question)
    sent = [(t["role"], t["content"]) for t in fake_llm.requests[-1].json["messages"][1:]]
    assert sent == [("user", "Hi?"), ("assistant", "Fine."), ("user", "And prices?")]
    shown = [
        (m["role"], m["content"], m["superseded"], m["answers"])
        for m in await view(chat_client, tenant, user, first["dialog_id"])
    ]
    assert shown == [
        ("user", "Hi?", False, None),
        ("assistant", "Fine.", False, None),
        ("user", "And prices?", False, None),  # stored once
        ("assistant", "Prices vary.", False, None),
    ]
    # Answered now: the question cannot be answered again by its own id.
    again = await regenerate(chat_client, tenant, user, question)
    assert (again.status, (await again.json())["code"]) == (404, "message_not_found")
