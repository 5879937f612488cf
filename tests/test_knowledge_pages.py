"""An answer's sources in the chat page, in Chromium against the real endpoints and the fake
DeepSeek: listed under the answer as soon as the stream names them, each opening to its
excerpt, shown as text (a document's markup never runs), and kept after the answer is stored
and the dialog read again."""

from __future__ import annotations

import asyncio

import asyncpg
from playwright.async_api import expect
from test_pages_e2e import COMPLETE_ANSWER, send, site

from cip.db.store import knowledge
from cip.knowledge.documents import read_document
from support.browser import Browser, LiveServer
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant

__all__ = ["site"]  # the fixture, shared with the other page tests

DOCUMENT = """# Acme

## Returns

Anvils may be returned within 30 days. <img src=x onerror="window.ran=1"> No questions asked.
"""


async def test_the_sources_show_under_the_answer_as_expandable_citations(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    tenant = await new_tenant(locale="en")
    document = read_document("faq.md", DOCUMENT.encode(), max_bytes=10_000, chunk_chars=500)
    async with pool.acquire() as connection:
        await knowledge.replace_document(
            connection, tenant_id=tenant.id, document=document, max_documents=10
        )
    ending = asyncio.Event()
    fake_llm.script = Script(deltas=["Within ", "30 days."], hold_ending=ending)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Can anvils be returned?")

    sources = page.locator("#messages .message.assistant .answer-sources")
    await expect(sources.locator("> summary")).to_have_text("Sources: 1")  # while it streams
    ending.set()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    await expect(sources).to_have_count(1)  # the stored answer, read again, keeps them
    citation = sources.locator(".source")
    await expect(citation).to_be_hidden()
    await sources.locator("> summary").click()
    await expect(citation.locator("summary")).to_have_text("faq.md › Acme › Returns")
    excerpt = citation.locator(".source-excerpt")
    await expect(excerpt).to_be_hidden()
    await citation.locator("summary").click()
    await expect(excerpt).to_contain_text('<img src=x onerror="window.ran=1"> No questions asked.')
    assert await sources.locator("img").count() == 0
    assert await page.evaluate("window.ran") is None
    assert browser.errors == []
