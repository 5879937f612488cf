"""Benchmark data, written with plain SQL: the chat tenant, accounts that can log in, two
cabinet tenants whose visitor owns the same dialogs among 1,000 or 1,000,000 messages, and a
tenant whose visitor has long dialogs of long markdown answers, some of them saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from cip.accounts.passwords import hash_sync

CABINET_VISITOR = "0b8f3c52-6a4e-4d7e-9d7c-3f0e9a1b2c4d"  # a guest id as pages make them
VISITOR_DIALOGS = 20
MESSAGES_PER_DIALOG = 10
LOGIN_PASSWORD = "bench-password-1"


@dataclass(frozen=True)
class CabinetTenant:
    tenant_id: UUID
    messages: int
    dialog_id: UUID  # one of the visitor's dialogs


async def tenant(connection: asyncpg.Connection, slug: str) -> UUID:
    tenant_id: UUID = await connection.fetchval(
        'INSERT INTO tenant (slug, name, settings) VALUES ($1, $1, \'{"locale": "en"}\') '
        "RETURNING id",
        slug,
    )
    return tenant_id


async def accounts(
    connection: asyncpg.Connection, tenant_id: UUID, count: int, cost: int
) -> list[str]:
    """`count` confirmed accounts sharing LOGIN_PASSWORD; their emails."""
    emails = [f"visitor{index}@bench.example" for index in range(count)]
    password_hash = hash_sync(LOGIN_PASSWORD, cost)
    await connection.executemany(
        "INSERT INTO account (tenant_id, email, password_hash, email_confirmed_at) "
        "VALUES ($1, $2, $3, now())",
        [(tenant_id, email, password_hash) for email in emails],
    )
    return emails


async def cabinet_tenant(
    connection: asyncpg.Connection, slug: str, total_messages: int
) -> CabinetTenant:
    """CABINET_VISITOR's dialogs, then other visitors' dialogs up to `total_messages`."""
    tenant_id = await tenant(connection, slug)
    other_dialogs = total_messages // MESSAGES_PER_DIALOG - VISITOR_DIALOGS
    await connection.execute(
        """
        INSERT INTO dialog (tenant_id, user_id, title, created_at, updated_at)
        SELECT $1, CASE WHEN n <= $2 THEN $3 ELSE 'visitor-' || (n % 30000) END,
               'Dialog number ' || n, now() - n * interval '1 minute',
               now() - n * interval '1 minute'
        FROM generate_series(1, $2::integer + $4::integer) AS n
        """,
        tenant_id,
        VISITOR_DIALOGS,
        CABINET_VISITOR,
        other_dialogs,
    )
    await connection.execute(
        """
        INSERT INTO message (tenant_id, dialog_id, role, content, created_at, updated_at)
        SELECT dialog.tenant_id, dialog.id, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               'Message ' || k || ' of ' || dialog.title
                   || ': **some** markdown, a [link](https://example.com) and `code`.',
               dialog.created_at + k * interval '1 second',
               dialog.created_at + k * interval '1 second'
        FROM dialog CROSS JOIN generate_series(1, $2) AS k
        WHERE dialog.tenant_id = $1
        """,
        tenant_id,
        MESSAGES_PER_DIALOG,
    )
    dialog_id = await connection.fetchval(
        "SELECT id FROM dialog WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY updated_at DESC LIMIT 1",
        tenant_id,
        CABINET_VISITOR,
    )
    return CabinetTenant(tenant_id=tenant_id, messages=total_messages, dialog_id=dialog_id)


# Blocks of an answer as an assistant writes them; {n} is the answer, {i} the block.
ANSWER_BLOCKS = (
    "## Step {i}: setting up the {topic}\n\n"
    "To get the **{topic}** working you need *three* things: an account, a key and a little "
    "patience. The [installation guide](https://docs.example.com/guide/{i}) covers each "
    "platform; below is the short version, with the parts people most often miss in **bold**.",
    "- **Create the project** in the dashboard and note its `project_id`.\n"
    "- *Generate* an API key under [Settings → Keys](https://example.com/settings/keys?ref={i}).\n"
    "- Keep the key in the `EXAMPLE_API_KEY` variable, never in the code.\n"
    "- Check the region: `eu-west` and `us-east` are billed *separately*.\n"
    "- Restart the worker so that it reads the new environment.",
    "```python\n"
    "import os\n\n"
    'client = Client(api_key=os.environ["EXAMPLE_API_KEY"], timeout={i})\n'
    "for page in client.pages(limit=100):\n"
    "    for item in page.items:\n"
    "        print(item.id, item.title)\n"
    "```",
    "1. Open the **Billing** tab.\n"
    "2. Pick the plan that fits; *monthly* plans can be cancelled at any time.\n"
    "3. Add a card, or ask for an invoice at <billing@example.com>.\n"
    "4. Wait for the confirmation email (usually under a minute).\n"
    "5. Run `client.ping()` again: it should now answer `ok`.",
    "> **Note:** limits reset every minute. If you see `429 Too Many Requests`, wait for the "
    "number of seconds in `Retry-After` and try again; see "
    "[rate limits](https://docs.example.com/limits#retry-{i}) for the details.",
    "If the import fails with `ModuleNotFoundError`, the package went into another "
    "environment:\n\n"
    "- run `python -m pip show example-sdk` to see *where* it is;\n"
    "  - in a virtualenv, activate it first;\n"
    "  - with Poetry, use `poetry run`;\n"
    "- otherwise reinstall it with `pip install --upgrade example-sdk=={n}.{i}.0`.",
    "```bash\n"
    "curl -s https://api.example.com/v1/status \\\n"
    "  -H \"Authorization: Bearer $EXAMPLE_API_KEY\" | jq '.services[] | {{name, state}}'\n"
    "```",
    "With the **{topic}** set up, the next step is usually "
    "[webhooks](https://docs.example.com/webhooks/{n}): they let your app hear about events "
    "*as they happen* instead of polling every few seconds, which is ___cheaper___ for both "
    "sides. Tell me if any step above does not match what you see on your screen.",
)
TOPICS = ("payment widget", "search index", "mail relay", "order export", "booking calendar")
ANSWERS = 24


def long_answers() -> list[str]:
    """ANSWERS markdown answers of 2,000 to 4,000 characters: headings, lists, emphasis, links,
    inline code and code blocks."""
    answers = []
    for n in range(ANSWERS):
        target = 2_000 + 1_500 * n // (ANSWERS - 1)  # the last block may add up to 500
        blocks: list[str] = []
        while sum(len(block) + 2 for block in blocks) < target:
            i = n + len(blocks)
            pattern = ANSWER_BLOCKS[i % len(ANSWER_BLOCKS)]
            blocks.append(pattern.format(n=n, i=i, topic=TOPICS[i % len(TOPICS)]))
        answers.append("\n\n".join(blocks))
    return answers


@dataclass(frozen=True)
class LongDialogs:
    tenant_id: UUID
    dialogs: dict[int, UUID]  # turns -> CABINET_VISITOR's dialog of that many turns
    saved_dialog_id: UUID  # every answer of this one is saved
    saved: int


async def long_dialogs(
    connection: asyncpg.Connection, slug: str, turns: Sequence[int], saved: int
) -> LongDialogs:
    """CABINET_VISITOR's dialogs of `turns` question-and-answer pairs, and one more of `saved`
    turns whose answers are all saved. No answer has its HTML yet."""
    tenant_id = await tenant(connection, slug)
    answers = long_answers()
    dialogs = {count: await _dialog(connection, tenant_id, count, answers) for count in turns}
    saved_dialog_id = await _dialog(connection, tenant_id, saved, answers)
    await connection.execute(
        """
        INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id, created_at)
        SELECT tenant_id, $3, 'message', id::text, id, created_at
        FROM message
        WHERE tenant_id = $1 AND dialog_id = $2 AND role = 'assistant'
        """,
        tenant_id,
        saved_dialog_id,
        CABINET_VISITOR,
    )
    return LongDialogs(tenant_id, dialogs, saved_dialog_id, saved)


async def _dialog(
    connection: asyncpg.Connection, tenant_id: UUID, turns: int, answers: list[str]
) -> UUID:
    """A dialog of `turns` short questions, each answered by one of `answers` (in turn)."""
    dialog_id: UUID = await connection.fetchval(
        "INSERT INTO dialog (tenant_id, user_id, title, created_at, updated_at) "
        "VALUES ($1, $2, $3, now() - interval '1 day', now()) RETURNING id",
        tenant_id,
        CABINET_VISITOR,
        f"A dialog of {turns} turns",
    )
    await connection.execute(
        """
        INSERT INTO message (tenant_id, dialog_id, role, content, created_at, updated_at)
        SELECT $1, $2, turn.role, turn.content, at.stamp, at.stamp
        FROM generate_series(1, $3::integer) AS k
        CROSS JOIN LATERAL (VALUES
            ('user', 'Question ' || k || ': how do I set this up, step by step?', 0),
            ('assistant', 'Answer ' || k || E'.\n\n'
                              || ($4::text[])[1 + k % cardinality($4::text[])], 1)
        ) AS turn (role, content, second)
        CROSS JOIN LATERAL (
            SELECT now() - interval '1 day' + (2 * k + turn.second) * interval '1 second' AS stamp
        ) AS at
        """,
        tenant_id,
        dialog_id,
        turns,
        answers,
    )
    return dialog_id


async def analyze(connection: asyncpg.Connection) -> None:
    for table in ("tenant", "account", "dialog", "message", "saved_item"):
        await connection.execute(f"VACUUM ANALYZE {table}")
