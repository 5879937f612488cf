"""The chat page in Chromium as a visitor meets it: the tenant's brand (quick replies, theme,
accent, bot name), the phone layouts, the composer's length counter, keyboard-only use and
what a screen reader announces."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Page, ViewportSize, expect

from support.browser import PHONE, Browser, LiveServer
from support.database import ROOT
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartServer

BRAND_FILES = ROOT / "tests/support/brand"
SMALL_PHONE = ViewportSize(width=320, height=568)
COMPLETE_ANSWER = '#messages .message.assistant[data-status="complete"] .bubble'


@pytest.fixture
async def site(live_server: StartServer, fake_llm: FakeLlm) -> LiveServer:
    return await live_server(llm={"api_url": fake_llm.url, "api_key": "sk-test"})


def brand(**values: Any) -> dict[str, Any]:
    files = {"logo": str(BRAND_FILES / "logo.svg"), "avatar": str(BRAND_FILES / "avatar.svg")}
    return {**files, **values}


async def test_quick_replies_ask_the_first_question(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    tenant = await new_tenant(
        locale="en", brand=brand(quick_replies=["What do you sell?", "Opening hours?"])
    )
    fake_llm.script = Script(deltas=["We sell ", "anvils."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    replies = page.get_by_role("group", name="Quick questions")
    await expect(replies.get_by_role("button")).to_have_text(
        ["What do you sell?", "Opening hours?"]
    )
    await replies.get_by_role("button", name="Opening hours?").click()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("We sell anvils.")
    await expect(replies).to_be_hidden()  # offered before the first question only
    assert fake_llm.requests[0].json["messages"][-1] == {
        "role": "user",
        "content": "Opening hours?",
    }
    await page.reload()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    await expect(replies).to_be_hidden()
    await page.get_by_role("button", name="New dialog").click()
    await expect(replies).to_be_visible()
    assert browser.errors == []


async def computed(page: Page, selector: str, prop: str) -> str:
    value: str = await page.eval_on_selector(
        selector, "(element, prop) => getComputedStyle(element).getPropertyValue(prop)", prop
    )
    return value.strip()


async def test_the_brand_colours_the_page_dark_or_light(
    site: LiveServer, browser: Browser, new_tenant: NewTenant
) -> None:
    dark = await new_tenant(
        locale="en", brand=brand(accent="#ffd23f", bot_name="Ada", theme="dark")
    )
    page = await browser.new_page()
    await page.goto(f"{site.url}/{dark.slug}/chat")
    await expect(page.locator(".message.welcome")).to_be_visible()
    assert await computed(page, "body", "background-color") == "rgb(21, 23, 27)"
    assert await computed(page, "body", "color") == "rgb(230, 232, 235)"
    # The accent, with the dark text that reads on it.
    assert await computed(page, "#send", "background-color") == "rgb(255, 210, 63)"
    assert await computed(page, "#send", "color") == "rgb(28, 31, 36)"
    # The bot's name and avatar over its messages.
    welcome = ".message.welcome"
    name = await page.eval_on_selector(
        welcome, "(element) => getComputedStyle(element, '::before').content"
    )
    assert name.startswith('"Ada"')
    avatar = await page.eval_on_selector(
        welcome, "(element) => getComputedStyle(element, '::before').backgroundImage"
    )
    assert f"/{dark.slug}/brand/avatar?v=" in avatar
    logo = page.locator(".topbar .logo")
    await expect(logo).to_be_visible()
    assert await logo.evaluate("(image) => image.naturalWidth") > 0  # the file was served

    auto = await new_tenant(locale="en", brand=brand(theme="auto"))
    await page.emulate_media(color_scheme="dark")
    await page.goto(f"{site.url}/{auto.slug}/chat")
    assert await computed(page, "body", "background-color") == "rgb(21, 23, 27)"
    await page.emulate_media(color_scheme="light")
    assert await computed(page, "body", "background-color") == "rgb(246, 247, 249)"
    plain = await new_tenant(locale="en")
    await page.emulate_media(color_scheme="dark")
    await page.goto(f"{site.url}/{plain.slug}/chat")  # light unless the brand says otherwise
    assert await computed(page, "body", "background-color") == "rgb(246, 247, 249)"
    assert await computed(page, "#send", "background-color") == "rgb(36, 86, 199)"
    assert browser.errors == []


BOXES = """() => {
    const box = (selector) => {
        const element = document.querySelector(selector);
        if (!element) return null;
        const rect = element.getBoundingClientRect();
        return { top: rect.top, bottom: rect.bottom, height: rect.height };
    };
    const lines = (element) => {
        const style = getComputedStyle(element);
        return element.getBoundingClientRect().height / parseFloat(style.lineHeight);
    };
    const rows = (elements) => new Set(elements
        .filter((element) => element.getClientRects().length)
        .map((element) => Math.round(element.getBoundingClientRect().top))).size;
    const header = [...document.querySelectorAll('.topbar .brand, .topbar .nav > *')];
    return {
        viewport: window.innerHeight,
        messages: box('#messages'),
        composer: box('#composer'),
        headerRows: rows(header),
        linesPerItem: header.filter((element) => element.getClientRects().length).map(lines),
        scrollWidth: document.documentElement.scrollWidth,
    };
}"""


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_the_conversation_fills_a_phone(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, locale: str
) -> None:
    tenant = await new_tenant(locale=locale, brand=brand())
    for viewport in (PHONE, SMALL_PHONE):
        page = await browser.new_page(viewport)
        await page.goto(f"{site.url}/{tenant.slug}/chat")
        await expect(page.locator(".message.welcome")).to_be_visible()
        boxes = await page.evaluate(BOXES)
        assert boxes["scrollWidth"] <= viewport["width"]
        # The composer is on screen, the conversation takes 70% of the height or more.
        assert boxes["composer"]["bottom"] <= boxes["viewport"]
        assert boxes["messages"]["height"] >= 0.7 * boxes["viewport"], (viewport, boxes)
        # The header's items sit in at most two rows, none of them wrapped inside.
        assert boxes["headerRows"] <= 2, (viewport, boxes)
        assert all(lines < 1.5 for lines in boxes["linesPerItem"]), (viewport, boxes)
        await page.close()
    page = await browser.new_page(SMALL_PHONE)
    for path in ("my", "my/dialogs", "login", "register"):  # the other pages' header too
        await page.goto(f"{site.url}/{tenant.slug}/{path}")
        await page.wait_for_load_state("networkidle")
        boxes = await page.evaluate(BOXES)
        assert boxes["headerRows"] <= 2, (path, boxes)
        assert all(lines < 1.5 for lines in boxes["linesPerItem"]), (path, boxes)
        assert boxes["scrollWidth"] <= SMALL_PHONE["width"], path
    assert browser.errors == []


async def test_the_composer_counts_down_near_the_limit(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, fake_llm: FakeLlm
) -> None:
    tenant = await new_tenant(locale="en")
    page = await browser.new_page(PHONE)
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    box = page.get_by_label("Your message")
    counter = page.locator("#message-length")
    await box.fill("x" * 3599)
    await expect(counter).to_be_hidden()
    await box.fill("x" * 3950)
    await expect(counter).to_have_text("3,950 / 4,000")
    assert await box.get_attribute("aria-describedby") == "message-length"
    await box.fill("x" * 4001)
    await expect(counter).to_have_text("4,001 / 4,000")
    await expect(counter).to_have_class(re.compile(r"\bover\b"))
    await box.press("Enter")
    await expect(page.locator("#chat-status")).to_have_text(re.compile("too long", re.IGNORECASE))
    assert fake_llm.requests == []  # refused before sending
    await box.fill("x" * 4000)
    await expect(counter).not_to_have_class(re.compile(r"\bover\b"))


async def test_keyboard_only_and_one_announcement_per_answer(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, fake_llm: FakeLlm
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=[f"piece{index} " for index in range(8)], gap=0.05)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await expect(page.locator(".message.welcome")).to_be_visible()
    # Count what the live region says, from first to last.
    await page.evaluate("""() => {
        window.announced = [];
        const region = document.querySelector('#answer-announcer');
        new MutationObserver(() => window.announced.push(region.textContent))
            .observe(region, { childList: true, characterData: true, subtree: true });
    }""")
    for _ in range(12):  # Tab until the composer has the focus
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "message":
            break
    assert await page.evaluate("document.activeElement.id") == "message"
    assert await computed(page, "#message", "outline-style") != "none"  # focus is visible
    await page.keyboard.type("Tell me a story")
    await page.keyboard.press("Enter")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text(
        "".join(f"piece{index} " for index in range(8)).strip()
    )
    announcer = page.locator("#answer-announcer")
    await expect(announcer).to_have_text("Assistant: " + " ".join(f"piece{n}" for n in range(8)))
    assert len(await page.evaluate("window.announced")) == 1  # once, not per piece
    # The accessibility tree: the messages are a log that is not read out piece by piece;
    # the finished answer is a status.
    assert await page.locator("#messages").get_attribute("aria-live") == "off"
    snapshot = await page.locator("section.chat").aria_snapshot()
    answer = " ".join(f"piece{index}" for index in range(8))
    assert f'  - status: "Assistant: {answer}"\n' in snapshot
    assert '  - log "Messages":\n' in snapshot
    # The focus is back in the composer: the next question needs no mouse either.
    assert await page.evaluate("document.activeElement.id") == "message"

    fake_llm.script = Script(deltas=["Second."])
    await page.keyboard.type("Again")
    await page.keyboard.press("Enter")
    await expect(announcer).to_have_text("Assistant: Second.")
    assert len(await page.evaluate("window.announced")) == 2
    assert browser.errors == []


async def test_the_first_page_links_the_chats(
    site: LiveServer, browser: Browser, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    page = await browser.new_page()
    await page.goto(f"{site.url}/")
    await page.get_by_role("link", name=tenant.name).click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/chat")
    await expect(page.get_by_role("button", name="Send")).to_be_visible()
    assert uuid.UUID(await page.evaluate("document.body.dataset.tenantId")) == tenant.id
