"""The knowledge base end to end: documents added, replaced and removed with `cip kb`, and
the chat's questions given the matching chunks (what reached the fake LLM), their sources
sent as `event: sources`, stored with the answer and shown by the dialog view."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cip.config import KnowledgeConfig
from cip.db.store.knowledge import FoundChunk
from cip.db.store.tenants import TenantRow
from cip.knowledge.retrieval import Shelves, excerpt, retrieve, within_budget
from support.chat_client import chat_ok, guest
from support.cli import cip
from support.fake_llm import FakeLlm, Script
from support.fixtures import Client, NewTenant
from support.pdf import text_pdf
from support.sse_events import parse_sse, without_pings

CONFIG = """[knowledge]
max_document_bytes = 4096
max_documents_per_tenant = 4
chunk_chars = 200
"""
FAQ = """# Acme

Acme sells anvils.

## Returns

Anvils may be returned within 30 days.

## Доставка

Доставка по Москве занимает один день.
"""
PAGE = """<html><head><style>h2 { color: red }</style><script>track("secret")</script></head>
<body><h1>Prices</h1><p>The heavy anvil costs 90 dollars.</p>
<h2>Discounts</h2><p>Blacksmiths get 10% off.</p></body></html>"""


@pytest.fixture
def kb(database_url: str, tmp_path: Path) -> Any:
    """`cip kb …` against the test database, with small limits; `files` are written into
    the test's folder first."""
    (tmp_path / "config.toml").write_text(CONFIG)

    def run(*args: str, files: dict[str, bytes | str] | None = None) -> Any:
        for name, body in (files or {}).items():
            data = body.encode() if isinstance(body, str) else body
            (tmp_path / name).write_bytes(data)
        files_named = args[0] == "add"  # `add` takes files of the test's folder, others names
        paths = [
            str(tmp_path / arg) if files_named and (tmp_path / arg).is_file() else arg
            for arg in args
        ]
        return cip("kb", *paths, database_url=database_url, tmp_path=tmp_path)

    return run


async def chunks_of(pool: asyncpg.Pool, tenant: TenantRow) -> list[tuple[str, list[str], str]]:
    rows = await pool.fetch(
        "SELECT document.name, chunk.heading_path, chunk.content FROM knowledge_chunk AS chunk"
        " JOIN knowledge_document AS document"
        "   ON document.tenant_id = chunk.tenant_id AND document.id = chunk.document_id"
        " WHERE chunk.tenant_id = $1 ORDER BY document.name, chunk.position",
        tenant.id,
    )
    return [(row["name"], row["heading_path"], row["content"]) for row in rows]


async def test_each_format_is_added_in_chunks_with_heading_paths(
    kb: Any, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    pdf = text_pdf([["Warranty: anvils carry a 5 year warranty."], ["Repairs take a week."]])
    added = kb(
        "add",
        "--tenant",
        tenant.slug,
        "faq.md",
        "page.html",
        "notes.txt",
        "terms.pdf",
        files={
            "faq.md": FAQ,
            "page.html": PAGE,
            "notes.txt": "First paragraph.\n\nSecond paragraph.\n",
            "terms.pdf": pdf,
        },
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [
        "added\tfaq.md\tmarkdown\t3 chunks",
        "added\tpage.html\thtml\t2 chunks",
        "added\tnotes.txt\ttext\t1 chunks",
        "added\tterms.pdf\tpdf\t2 chunks",
    ]
    assert await chunks_of(pool, tenant) == [
        ("faq.md", ["Acme"], "Acme sells anvils."),
        ("faq.md", ["Acme", "Returns"], "Anvils may be returned within 30 days."),
        ("faq.md", ["Acme", "Доставка"], "Доставка по Москве занимает один день."),
        ("notes.txt", [], "First paragraph.\n\nSecond paragraph."),
        ("page.html", ["Prices"], "The heavy anvil costs 90 dollars."),
        ("page.html", ["Prices", "Discounts"], "Blacksmiths get 10% off."),
        ("terms.pdf", ["p. 1"], "Warranty: anvils carry a 5 year warranty."),
        ("terms.pdf", ["p. 2"], "Repairs take a week."),
    ]
    listed = kb("list", "--tenant", tenant.slug)
    assert [line.split("\t")[:4] for line in listed.stdout.splitlines()] == [
        ["faq.md", "markdown", str(len(FAQ.encode())), "3"],
        ["notes.txt", "text", "36", "1"],
        ["page.html", "html", str(len(PAGE.encode())), "2"],
        ["terms.pdf", "pdf", str(len(pdf)), "2"],
    ]


async def test_a_long_section_is_cut_into_chunks_by_paragraphs(
    kb: Any, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    paragraphs = [f"Paragraph {n} " + "word " * 25 for n in range(4)]
    text = "# Long\n\n" + "\n\n".join(paragraphs)
    assert kb("add", "--tenant", tenant.slug, "long.md", files={"long.md": text}).returncode == 0
    chunks = await chunks_of(pool, tenant)
    assert [content.split()[:2] for _, _, content in chunks] == [
        ["Paragraph", str(n)] for n in range(4)
    ]
    assert all(len(content) <= 200 and path == ["Long"] for _, path, content in chunks)


async def test_adding_again_replaces_and_remove_removes(
    kb: Any, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant()
    assert kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": FAQ}).returncode == 0
    again = kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": "# New\n\nOnly this."})
    assert again.stdout == "replaced\tfaq.md\tmarkdown\t1 chunks\n"
    assert await chunks_of(pool, tenant) == [("faq.md", ["New"], "Only this.")]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM knowledge_document WHERE tenant_id = $1", tenant.id
        )
        == 1
    )

    removed = kb("remove", "--tenant", tenant.slug, "faq.md", "missing.md")
    assert removed.returncode == 1
    assert removed.stdout == "removed\tfaq.md\n"
    assert "no document 'missing.md'" in removed.stderr
    assert await chunks_of(pool, tenant) == []


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\nnot really a pdf", "broken.pdf: not a readable PDF"),
        ("sheet.xlsx", b"PK\x03\x04", "sheet.xlsx: not a document the knowledge base takes"),
        ("huge.md", b"# Big\n\n" + b"x" * 5000, "huge.md: 5007 bytes, more than"),
        ("latin1.txt", "café".encode("latin-1"), "latin1.txt: not UTF-8 text"),
        ("empty.html", b"<script>only()</script>", "empty.html: no text found"),
    ],
)
async def test_a_bad_file_is_refused_and_nothing_changes(
    kb: Any, new_tenant: NewTenant, pool: asyncpg.Pool, name: str, body: bytes, message: str
) -> None:
    tenant = await new_tenant()
    assert kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": FAQ}).returncode == 0
    before = await chunks_of(pool, tenant)
    # The good file beside it is not stored either, nor is faq.md replaced.
    refused = kb(
        "add",
        "--tenant",
        tenant.slug,
        "faq.md",
        "other.md",
        name,
        files={"faq.md": "# Changed\n\nnew", "other.md": "# Other\n\ntext", name: body},
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"cip: {message}"), refused.stderr
    assert refused.stdout == ""
    assert await chunks_of(pool, tenant) == before


async def test_documents_per_tenant_are_bounded(
    kb: Any, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant, other = await new_tenant(), await new_tenant()
    files = {f"d{n}.md": f"# D{n}\n\ntext {n}" for n in range(5)}
    refused = kb("add", "--tenant", tenant.slug, *files, files=files)
    assert refused.returncode == 2
    assert "d4.md: the tenant has 4 documents already" in refused.stderr
    assert len(await chunks_of(pool, tenant)) == 4
    # Replacing one of the four is no fifth; another tenant counts its own.
    assert kb("add", "--tenant", tenant.slug, "d0.md").returncode == 0
    assert kb("add", "--tenant", other.slug, "d4.md").returncode == 0
    assert kb("add", "--tenant", "no-such-tenant", "d4.md").returncode == 2


def system_message(fake_llm: FakeLlm) -> str:
    messages = fake_llm.requests[-1].json["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


async def test_questions_are_answered_from_the_tenants_own_documents(
    kb: Any,
    chat_client: Client,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    tenant, other = await new_tenant(locale="en"), await new_tenant(locale="en")
    assert kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": FAQ}).returncode == 0
    secret = "# Returns\n\nOther company: anvils returned within 99 days, code " + "Z" * 8
    assert (
        kb("add", "--tenant", other.slug, "theirs.md", files={"theirs.md": secret}).returncode == 0
    )
    user = guest()
    fake_llm.script = Script(deltas=["Within ", "30 days."])

    events = await chat_ok(chat_client, tenant, user_id=user, message="Can anvils be returned?")

    system = system_message(fake_llm)
    assert "[1] faq.md — Acme › Returns\nAnvils may be returned within 30 days." in system
    assert "Answer from the sources below" in system
    assert "99 days" not in system and "theirs.md" not in system
    names = [name for name, _ in events]
    assert names[:3] == ["meta", "sources", "message"]
    sources = events[1][1]["sources"]
    assert sources[0] == {
        "document": "faq.md",
        "heading_path": ["Acme", "Returns"],
        "excerpt": "Anvils may be returned within 30 days.",
    }
    assert all(source["document"] == "faq.md" for source in sources)

    message_id = events[0][1]["message_id"]
    stored = await pool.fetchval("SELECT sources FROM message WHERE id = $1", uuid.UUID(message_id))
    assert stored == sources
    dialog_id = events[0][1]["dialog_id"]
    view = await chat_client.get(
        f"/api/v1/tenants/{tenant.id}/me/dialogs/{dialog_id}", headers={"X-User-Id": user}
    )
    assert view.status == 200, await view.text()
    question, answer = (await view.json())["messages"]
    assert question["sources"] is None
    assert answer["sources"] == sources

    # The other tenant's visitor asks the same: only their own document.
    await chat_ok(chat_client, other, user_id=guest(), message="Can anvils be returned?")
    theirs = system_message(fake_llm)
    assert "99 days" in theirs and "faq.md" not in theirs and "30 days" not in theirs


async def test_a_tenant_without_documents_gets_the_plain_prompt(
    chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    events = await chat_ok(chat_client, tenant, user_id=guest(), message="Returns?")
    assert "sources" not in [name for name, _ in events]
    assert "[1]" not in system_message(fake_llm)


async def test_a_resumed_or_replayed_answer_names_its_sources_again(
    kb: Any, chat_client: Client, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant, user = await new_tenant(locale="en"), guest()
    assert kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": FAQ}).returncode == 0
    ending = asyncio.Event()
    fake_llm.script = Script(deltas=["Within ", "30 days."], hold_ending=ending)
    asking = asyncio.create_task(
        chat_client.post(
            f"/api/v1/tenants/{tenant.id}/chat",
            json={"user_id": user, "message": "Can anvils be returned?"},
        )
    )
    async with asyncio.timeout(10):
        while not fake_llm.requests:
            await asyncio.sleep(0.01)
    message_id = await wait_for_streaming_answer(chat_client, tenant, user)
    url = f"/api/v1/tenants/{tenant.id}/chat/{message_id}/stream"
    headers = {"X-User-Id": user}

    async def replayed() -> list[tuple[str, Any]]:
        response = await chat_client.get(url, headers=headers, params={"last_event_id": "0"})
        assert response.status == 200, await response.text()
        return without_pings(parse_sse(await response.text()))

    resuming = asyncio.create_task(replayed())  # live, from this instance's memory
    ending.set()
    first = await resuming
    await (await asyncio.wait_for(asking, 10)).text()
    stored = await replayed()  # from the stored answer
    for events in (first, stored):
        assert [name for name, _ in events[:2]] == ["meta", "sources"]
        assert events[1][1]["sources"][0]["heading_path"] == ["Acme", "Returns"]
        assert (
            "".join(
                data["content"]
                for name, data in events
                if name == "message" and isinstance(data, dict)
            )
            == "Within 30 days."
        )


async def wait_for_streaming_answer(client: Client, tenant: TenantRow, user: str) -> str:
    """The id of the visitor's answer being written, once the dialog view shows it."""
    for _ in range(200):
        listed = await client.get(
            f"/api/v1/tenants/{tenant.id}/me/dialogs", headers={"X-User-Id": user}
        )
        items = (await listed.json())["items"]
        if items:
            view = await client.get(
                f"/api/v1/tenants/{tenant.id}/me/dialogs/{items[0]['id']}",
                headers={"X-User-Id": user},
            )
            messages = (await view.json())["messages"]
            if len(messages) == 2:
                return str(messages[1]["id"])
        await asyncio.sleep(0.02)
    raise AssertionError("the answer never showed")


def test_the_chunks_given_stay_within_the_character_budget() -> None:
    chunks = [
        FoundChunk(name="a.md", heading_path=[], content="x" * 40, rank=0.3),
        FoundChunk(name="b.md", heading_path=[], content="y" * 40, rank=0.2),
        FoundChunk(name="c.md", heading_path=[], content="z" * 40, rank=0.1),
    ]
    assert [c.name for c in within_budget(chunks, 100)] == ["a.md", "b.md"]
    [cut] = within_budget(chunks, 10)
    assert cut.content == "x" * 10
    assert excerpt("word " * 100) == ("word " * 60)[:299].rstrip() + "…"
    assert len(excerpt("word " * 100)) <= 300


async def test_a_tenant_without_documents_costs_its_questions_no_search(
    pool: asyncpg.Pool, new_tenant: NewTenant, kb: Any
) -> None:
    """Whether a tenant has documents is read once per `ttl`: questions in between send no
    query; a document added is searched once the `ttl` has passed (here at once)."""
    sent: list[str] = []

    class Counting:
        async def fetch(self, query: str, *args: Any) -> Any:
            sent.append("fetch")
            return await pool.fetch(query, *args)

        async def fetchval(self, query: str, *args: Any) -> Any:
            sent.append("fetchval")
            return await pool.fetchval(query, *args)

    tenant = await new_tenant()
    settings = KnowledgeConfig()
    remembering, reading = Shelves(ttl=3600), Shelves(ttl=0)
    db: Any = Counting()
    for _ in range(3):
        found = await retrieve(
            db, settings, tenant_id=tenant.id, question="Returns?", shelves=remembering
        )
        assert found.chunks == []
    assert sent == ["fetchval"]  # one look, then none

    assert kb("add", "--tenant", tenant.slug, "faq.md", files={"faq.md": FAQ}).returncode == 0
    stale = await retrieve(
        db, settings, tenant_id=tenant.id, question="Can anvils be returned?", shelves=remembering
    )
    assert stale.chunks == []  # within its ttl the process still knows "none"
    fresh = await retrieve(
        db, settings, tenant_id=tenant.id, question="Can anvils be returned?", shelves=reading
    )
    assert [chunk.name for chunk in fresh.chunks][:1] == ["faq.md"]
