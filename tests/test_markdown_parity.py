"""One markdown dialect on both sides: the server's renderer (markdown-it-py) and the page's
(markdown-it in Chromium, `static/js/markdown.js`, the module the chat page paints streaming
answers with) turn every shared fixture into the same HTML, so the server's HTML replaces the
page's at `done` unchanged, and the page is exactly as safe while an answer streams."""

from __future__ import annotations

from playwright.async_api import expect

from cip.chat.markdown import markdown_html
from support.browser import Browser
from support.fixtures import NewTenant, StartServer
from support.markdown_fixtures import FIXTURES, UNSAFE


def test_the_server_renders_the_unsafe_inputs_inert() -> None:
    assert [markdown_html(markdown) for markdown, _ in UNSAFE] == [html for _, html in UNSAFE]


async def test_the_page_renders_every_fixture_as_the_server_does(
    live_server: StartServer, browser: Browser, new_tenant: NewTenant
) -> None:
    site = await live_server()
    tenant = await new_tenant(locale="en")
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await expect(page.locator("#messages .message")).to_have_count(1)  # the page's modules ran
    texts = [fixture["markdown"] for fixture in FIXTURES]
    rendered = await page.evaluate(
        """async (texts) => {
            const { markdownHtml } = await import('/static/js/markdown.js');
            return texts.map((text) => markdownHtml(text));
        }""",
        texts,
    )
    served = {fixture["name"]: markdown_html(fixture["markdown"]) for fixture in FIXTURES}
    assert dict(zip(served, rendered, strict=True)) == served
    assert browser.errors == []
