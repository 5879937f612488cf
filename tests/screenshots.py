"""`make screenshots`: the pages as a visitor sees them, written as PNGs under
`var/screenshots/` (or `$CIP_SCREENSHOT_DIR`), on the test suite's own setup: the app on a
loopback port, the fake DeepSeek streaming the answers, Debian's Chromium.

Run with `python -m pytest tests/screenshots.py` (the suite itself does not collect this
file). Each function below takes one scene; a new scene is one more function of the same
shape, ending with `shoot(page, name)`.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, ViewportSize, expect

from support.browser import DESKTOP, PHONE, SCREENSHOTS, Browser, LiveServer
from support.database import ROOT
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartServer
from support.widget_host import HostSite

BRAND_FILES = ROOT / "tests/support/brand"
QUESTION = "Which plan suits a team of five?"
# An answer as LLMs write them: a paragraph, a table, a list.
ANSWER = [
    "For a team of five, **Team** is the usual choice. ",
    "Here is how the plans compare:\n\n",
    "| Plan | Seats | Price a month |\n",
    "|---|---:|---:|\n",
    "| Solo | 1 | $9 |\n",
    "| Team | 10 | $49 |\n",
    "| Business | 50 | $199 |\n\n",
    "What you get with **Team**:\n\n",
    "1. shared dialogs and saved answers,\n",
    "2. a widget on your own site,\n",
    "3. priority support.\n",
]
STREAMING = '#messages .message[data-status="streaming"] .bubble'
COMPLETE = '#messages .message.assistant[data-status="complete"] .bubble'


@pytest.fixture
async def site(live_server: StartServer, fake_llm: FakeLlm) -> LiveServer:
    return await live_server(llm={"api_url": fake_llm.url, "api_key": "sk-test"})


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def ask(page: Page, question: str) -> None:
    box = page.locator("#message")
    await box.fill(question)
    await box.press("Enter")


@pytest.mark.parametrize(("viewport", "device"), [(DESKTOP, "desktop"), (PHONE, "phone")])
async def test_mid_stream_and_finished(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    viewport: ViewportSize,
    device: str,
) -> None:
    tenant = await new_tenant(locale="en", welcome_message="Hi! I am the ACME assistant.")
    ending = asyncio.Event()
    fake_llm.script = Script(deltas=ANSWER, gap=0.02, hold_ending=ending)
    page = await browser.new_page(viewport)
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await ask(page, QUESTION)
    await expect(page.locator(STREAMING)).to_contain_text("priority support")
    await shoot(page, f"chat-{device}-mid-stream-table")
    ending.set()
    await expect(page.locator(COMPLETE)).to_contain_text("priority support")
    await shoot(page, f"chat-{device}-finished")


async def test_widget_open_on_a_host_page(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    host_site: HostSite,
) -> None:
    origin = await host_site(site)
    tenant = await new_tenant(
        locale="en",
        welcome_message="Hello! Ask me about our anvils.",
        allowed_origins=[origin],
        brand={
            "accent": "#0b6e4f",
            "logo": str(BRAND_FILES / "logo.svg"),
            "avatar": str(BRAND_FILES / "avatar.svg"),
            "bot_name": "Ada",
        },
    )
    fake_llm.script = Script(deltas=ANSWER[:7])
    page = await browser.new_page(DESKTOP)
    await page.goto(f"{origin}/?tenant={tenant.slug}")
    await page.get_by_role("button", name="Open the chat").click()
    await expect(page.locator("#cip-widget")).to_have_attribute("data-ready", "1")
    frame = page.frame_locator("#cip-widget iframe")
    await frame.locator("#message").fill(QUESTION)
    await frame.locator("#message").press("Enter")
    await expect(frame.locator(COMPLETE)).to_contain_text("Business")
    await shoot(page, "widget-open-on-a-host-page")


@pytest.mark.parametrize(("viewport", "device"), [(DESKTOP, "desktop"), (PHONE, "phone")])
async def test_branded_tenant_in_dark_mode(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    viewport: ViewportSize,
    device: str,
) -> None:
    tenant = await new_tenant(
        locale="en",
        welcome_message="Hello! I am Ada, ACME's assistant.",
        brand={
            "accent": "#ffd23f",
            "logo": str(BRAND_FILES / "logo.svg"),
            "avatar": str(BRAND_FILES / "avatar.svg"),
            "bot_name": "Ada",
            "quick_replies": ["What do you sell?", "Opening hours?", "Delivery to Paris?"],
            "theme": "dark",
        },
    )
    page = await browser.new_page(viewport)
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await expect(page.locator(".quick-reply").first).to_be_visible()
    await shoot(page, f"brand-dark-{device}-welcome")
    fake_llm.script = Script(deltas=ANSWER)
    await page.locator(".quick-reply").first.click()
    await expect(page.locator(COMPLETE)).to_contain_text("priority support")
    await shoot(page, f"brand-dark-{device}-answer")


@pytest.mark.parametrize(("viewport", "device"), [(DESKTOP, "desktop"), (PHONE, "phone")])
async def test_cabinet_search_results(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    viewport: ViewportSize,
    device: str,
) -> None:
    tenant = await new_tenant(locale="en")
    page = await browser.new_page(viewport)
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    for question, answer in (
        (
            "How long do refunds take?",
            "Refunds take **five** business days after we get the parcel.",
        ),
        ("Do you ship to Canada?", "Yes: shipping to Canada takes about a week."),
        ("Can I get a refund for a gift?", "Yes, a gift can be refunded to the buyer's card."),
    ):
        fake_llm.script = Script(deltas=[answer])
        await page.locator("#new-dialog").click()
        await ask(page, question)
        await expect(page.locator(COMPLETE).last).to_contain_text(answer.split()[-1])
    await page.goto(f"{site.url}/{tenant.slug}/my/dialogs")
    await page.get_by_label("Search my dialogs").fill("refund")
    await page.keyboard.press("Enter")
    await expect(page.locator("#search-results mark").first).to_be_visible()
    await shoot(page, f"cabinet-search-{device}")
