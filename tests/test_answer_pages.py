"""An answer in the chat page, in Chromium against the real endpoints and the fake DeepSeek:
rendered as markdown while it streams (the same HTML the server stores, no raw markdown, and
nothing executable even mid-stream), and the actions under it: copy, rating, save / unsave
(remembered across reloads, the next message and the dialog view), retry of a failed
question."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
from playwright.async_api import Page, expect
from test_pages_e2e import COMPLETE_ANSWER, eventually, messages_of, send, site

from support.browser import SCREENSHOTS, Browser, LiveServer
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant
from support.markdown_fixtures import UNSAFE

__all__ = ["site"]  # the fixture, shared with the other page tests

STREAMING = '#messages .message.assistant[data-status="streaming"] .bubble'
TABLE_ANSWER = [
    "Our plans:\n\n",
    "| Plan | Price |\n",
    "|:-----|------:|\n",
    "| Basic | 10 € |\n",
    "| Pro | 25 € |\n\n",
    "See ~~old~~ https://example.com/prices",
]


async def dialog_view(site: LiveServer, page: Page, tenant: Any) -> dict[str, Any]:
    """The page's dialog as the API shows it to the page's visitor."""
    found: dict[str, Any] = await page.evaluate(
        """async ([tenantId]) => {
            const guest = localStorage.getItem(`cip:${tenantId}:guest`);
            const dialog = localStorage.getItem(`cip:${tenantId}:dialog`);
            const response = await fetch(`/api/v1/tenants/${tenantId}/me/dialogs/${dialog}`,
                                         { headers: { 'X-User-Id': guest } });
            return response.json();
        }""",
        [str(tenant.id)],
    )
    return found


async def test_a_table_is_shown_as_a_table_while_the_answer_streams(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    ending = asyncio.Event()
    fake_llm.script = Script(deltas=TABLE_ANSWER, gap=0.1, hold_ending=ending)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "What are your prices?")

    streaming = page.locator(STREAMING)
    await expect(streaming.locator("table td.align-right").last).to_have_text("25 €")
    await expect(streaming.locator("a")).to_have_attribute("href", "https://example.com/prices")
    await expect(streaming.locator("s")).to_have_text("old")
    assert "|" not in await streaming.inner_text()  # no raw markdown
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "chat-desktop-mid-stream-table.png"))
    painted = await streaming.inner_html()

    ending.set()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    answer = (await dialog_view(site, page, tenant))["messages"][-1]
    assert painted == answer["html"]  # the server's HTML replaced the page's, unchanged
    assert await page.locator(COMPLETE_ANSWER).inner_html() == answer["html"]
    assert browser.errors == []


# Checks every state of the answers' DOM while they are painted: only what markdown renders
# (and the page's copy buttons), no event handler attribute, no link but http(s)/mailto.
WATCH_ANSWERS = """() => {
    window.violations = [];
    window.streamingChecks = 0;
    const allowed = new Set(['P', 'STRONG', 'EM', 'S', 'A', 'CODE', 'PRE', 'UL', 'OL', 'LI',
        'BLOCKQUOTE', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'HR', 'BR', 'TABLE', 'THEAD', 'TBODY',
        'TR', 'TH', 'TD', 'DIV', 'BUTTON']);
    const check = () => {
        const bubbles = document.querySelectorAll('#messages .message.assistant .bubble');
        for (const node of [...bubbles].flatMap((bubble) => [...bubble.querySelectorAll('*')])) {
            if (!allowed.has(node.tagName)) window.violations.push(`element ${node.tagName}`);
            for (const attribute of node.attributes) {
                if (attribute.name.startsWith('on')) window.violations.push(`${attribute.name}`);
            }
            const href = node.getAttribute('href');
            if (href !== null && !/^(https?:|mailto:)/i.test(href)) {
                window.violations.push(`href ${href}`);
            }
        }
        if (document.querySelector('#messages .message[data-status="streaming"] .bubble *')) {
            window.streamingChecks += 1;
        }
    };
    new MutationObserver(check).observe(document.querySelector('#messages'),
        { subtree: true, childList: true, characterData: true, attributes: true });
}"""


async def test_unsafe_markdown_is_inert_while_it_streams(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    payload = "\n\n".join(
        [
            'Look: <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>',
            "[click](javascript:window.pwned=3) <iframe src=javascript:window.pwned=4></iframe>",
            '<a href="javascript:window.pwned=5">raw</a> <svg onload="window.pwned=6"></svg>',
            "![x](data:image/png;base64,AAAA) [d](data:text/html,<script>window.pwned=7</script>)",
            *(markdown for markdown, _ in UNSAFE),
        ]
    )
    # A few characters at a time, so every half-written tag and link is painted once.
    pieces = [payload[start : start + 7] for start in range(0, len(payload), 7)]
    ending = asyncio.Event()
    fake_llm.script = Script(deltas=pieces, gap=0.01, hold_ending=ending)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await page.evaluate(WATCH_ANSWERS)
    await send(page, "Show me some HTML")

    streaming = page.locator(STREAMING)
    await expect(streaming).to_contain_text("[home](/account)")  # the last piece is painted
    checks = await page.evaluate("window.streamingChecks")
    assert checks >= 10  # painted many times while it streamed
    found = await page.evaluate("""() => ({
        violations: window.violations,
        pwned: window.pwned ?? null,
        frames: document.querySelectorAll('#messages iframe, #messages img').length,
    })""")
    assert found == {"violations": [], "pwned": None, "frames": 0}
    await expect(streaming).to_contain_text('<img src=x onerror="window.pwned=1">')  # as text

    ending.set()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate("[window.violations, window.pwned ?? null]") == [[], None]
    assert browser.dialogs == []
    assert browser.errors == []


async def test_copy_puts_the_markdown_and_the_code_on_the_clipboard(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    markdown = "Run **this**:\n\n```sh\nmake run\n```\n"
    fake_llm.script = Script(deltas=[markdown])
    await browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "How do I start it?")
    answer = page.locator("#messages .message.assistant").last
    await expect(answer.locator(".bubble.formatted pre")).to_have_text("make run\n")

    copy = answer.get_by_role("button", name="Copy the answer")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == markdown
    await expect(copy).to_have_text("Copy")  # a moment later, ready again

    code = answer.get_by_role("button", name="Copy the code")
    await code.click()
    await expect(code).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == "make run\n"
    assert browser.errors == []


async def test_a_rating_and_its_comment_are_kept(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["A fine answer."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Rate me")
    answer = page.locator("#messages .message.assistant").last
    good = answer.get_by_role("button", name="Good answer")
    bad = answer.get_by_role("button", name="Bad answer")
    await good.focus()  # reachable from the keyboard
    await page.keyboard.press("Enter")
    await expect(good).to_have_attribute("aria-pressed", "true")
    await expect(bad).to_have_attribute("aria-pressed", "false")

    async def ratings() -> list[tuple[str, str | None]]:
        rows = await pool.fetch(
            "SELECT rating, comment FROM message_feedback WHERE tenant_id = $1", tenant.id
        )
        return [(row["rating"], row["comment"]) for row in rows]

    assert await eventually(ratings) == [("up", None)]
    await bad.click()
    await expect(bad).to_have_attribute("aria-pressed", "true")
    await answer.get_by_label("Comment on the rating").fill("Too short.")
    await answer.get_by_role("button", name="Send feedback").click()
    await expect(answer.get_by_role("status")).to_have_text("Thank you for the feedback!")
    assert await ratings() == [("down", "Too short.")]

    await page.reload()
    answer = page.locator("#messages .message.assistant").last
    await expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    await answer.get_by_role("button", name="Bad answer").click()  # pressed again: cleared
    await expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute(
        "aria-pressed", "false"
    )

    async def cleared() -> bool:
        return await ratings() == []

    assert await eventually(cleared)
    assert browser.errors == []


async def test_a_saved_answer_says_so_after_a_reload_the_next_message_and_in_the_dialog_view(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["Keep ", "this."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Something to keep")
    first = page.locator("#messages .message.assistant").first
    await first.get_by_role("button", name="Save").click()
    await expect(first.get_by_role("button", name="Unsave")).to_be_visible()

    await page.reload()
    await expect(first.locator(".saved-note")).to_have_text("Saved")
    await expect(first.get_by_role("button", name="Unsave")).to_be_visible()
    fake_llm.script = Script(deltas=["Another."])
    await send(page, "And another thing")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(2)
    await expect(first.get_by_role("button", name="Unsave")).to_be_visible()
    second = page.locator("#messages .message.assistant").last
    await expect(second.get_by_role("button", name="Save")).to_be_visible()

    dialog_id = await page.evaluate(f"localStorage.getItem('cip:{tenant.id}:dialog')")
    await page.goto(f"{site.url}/{tenant.slug}/my/dialogs/{dialog_id}")
    viewed = page.locator("#messages .message.assistant").first
    await expect(viewed.locator(".saved-note")).to_have_text("Saved")
    await viewed.get_by_role("button", name="Unsave").click()
    await expect(viewed.get_by_role("button", name="Save")).to_be_visible()
    assert (
        await pool.fetchval("SELECT count(*) FROM saved_item WHERE tenant_id = $1", tenant.id) == 0
    )
    assert browser.errors == []


async def test_a_question_whose_answer_failed_is_retried_without_being_stored_twice(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(status=503)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Are you there?")
    await expect(page.locator("#chat-status")).to_have_text(re.compile("unavailable"))
    question = page.locator("#messages .message.user").last
    retry = question.get_by_role("button", name="Retry")
    await expect(retry).to_be_visible()

    await page.reload()  # still offered: the stored question has no answer
    fake_llm.script = Script(deltas=["Yes, ", "I am."])
    await retry.click()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("Yes, I am.")
    await expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    rows = await messages_of(pool, tenant.id)
    assert [(row["role"], row["content"]) for row in rows] == [
        ("user", "Are you there?"),
        ("assistant", "Yes, I am."),
    ]
    assert fake_llm.requests[-1].json["messages"][1:] == [
        {"role": "user", "content": "Are you there?"}
    ]

    # An answer that breaks off mid-stream is given again by Retry under it.
    fake_llm.script = Script(deltas=["Half"], after="malformed")
    await send(page, "Tell me more")
    broken = page.locator('#messages .message.assistant[data-status="error"]')
    await expect(broken).to_have_count(1)
    fake_llm.script = Script(deltas=["Whole answer."])
    await broken.get_by_role("button", name="Retry").click()
    await expect(page.locator(COMPLETE_ANSWER).last).to_have_text("Whole answer.")
    rows = await messages_of(pool, tenant.id)
    assert [row["content"] for row in rows if row["role"] == "user"] == [
        "Are you there?",
        "Tell me more",
    ]
    assert browser.dialogs == []
