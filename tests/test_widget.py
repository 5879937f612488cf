"""The widget on a company's site, in Chromium: a page of another origin (`localhost:<port>`,
the service being on `127.0.0.1:<port>`) loads `/widget.js`, opens the chat in its frame and
chats through it; a site the tenant does not allow gets a blocked frame."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from playwright.async_api import Frame, Page, expect

from support.browser import Browser, LiveServer
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartServer
from support.widget_host import HostSite

WIDGET = "#cip-widget"
COMPLETE_ANSWER = '#messages .message.assistant[data-status="complete"] .bubble'
EMBED = {"embed": "1"}


@pytest.fixture
async def site(live_server: StartServer, fake_llm: FakeLlm) -> LiveServer:
    return await live_server(llm={"api_url": fake_llm.url, "api_key": "sk-test"})


async def chat_frame(page: Page, origin: str) -> Frame:
    """The frame that shows the chat, once it is there."""
    async with asyncio.timeout(10):
        while True:
            for frame in page.frames:
                if frame.url.startswith(origin) and "embed=1" in frame.url:
                    return frame
            await asyncio.sleep(0.05)


async def test_a_site_embeds_the_chat_and_chats_through_it(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    host_site: HostSite,
) -> None:
    shop_origin = await host_site(site)
    tenant = await new_tenant(
        locale="en", allowed_origins=[shop_origin], brand={"accent": "#0b6e4f"}
    )
    shop = f"{shop_origin}/?tenant={tenant.slug}"
    page = await browser.new_page()
    await page.goto(shop)
    launcher = page.get_by_role("button", name="Open the chat")
    await expect(launcher).to_be_visible()
    # Nothing but the script before it is opened: no frame yet.
    assert [frame.url for frame in page.frames] == [shop]
    await expect(launcher).to_have_css("background-color", "rgb(11, 110, 79)")  # the accent

    await launcher.click()
    frame = await chat_frame(page, site.url)
    await expect(page.locator(WIDGET)).to_have_attribute("data-ready", "1")  # the handshake
    assert (
        frame.url == f"{site.url}/{tenant.slug}/chat?{urlencode(EMBED | {'parent': shop_origin})}"
    )
    await expect(frame.locator(".topbar .nav")).to_be_hidden()  # compact: no site navigation
    fake_llm.script = Script(deltas=["Anvils ", "are ", "in stock."])
    await frame.get_by_label("Your message").fill("Do you have anvils?")
    await frame.get_by_label("Your message").press("Enter")
    await expect(frame.locator(COMPLETE_ANSWER)).to_have_text("Anvils are in stock.")
    guest = await frame.evaluate(f"localStorage.getItem('cip:{tenant.id}:guest')")
    assert guest and fake_llm.requests[0].json["messages"][-1]["content"] == "Do you have anvils?"
    # Open is remembered by the site, per tenant.
    assert await page.evaluate(f"localStorage.getItem('cip-widget:{tenant.slug}:open')") == "1"

    # The chat's own close button asks the site to close the panel (postMessage).
    await frame.get_by_role("button", name="Close the chat").click()
    await expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    await expect(page.get_by_role("button", name="Open the chat")).to_be_focused()
    assert await page.evaluate(f"localStorage.getItem('cip-widget:{tenant.slug}:open')") == "0"

    # Back on the site later: closed as it was left, and the chat keeps its visitor (the
    # frame's storage for this site) and the dialog.
    await page.reload()
    await expect(page.get_by_role("button", name="Open the chat")).to_be_visible()
    assert [frame.url for frame in page.frames] == [shop]
    await page.get_by_role("button", name="Open the chat").click()
    frame = await chat_frame(page, site.url)
    await expect(frame.locator(COMPLETE_ANSWER)).to_have_text("Anvils are in stock.")
    assert await frame.evaluate(f"localStorage.getItem('cip:{tenant.id}:guest')") == guest
    assert browser.errors == []


async def test_an_answer_that_finishes_while_closed_is_counted(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    host_site: HostSite,
) -> None:
    shop_origin = await host_site(site)
    tenant = await new_tenant(locale="en", allowed_origins=[shop_origin])
    page = await browser.new_page()
    await page.goto(f"{shop_origin}/?tenant={tenant.slug}")
    await page.get_by_role("button", name="Open the chat").click()
    frame = await chat_frame(page, site.url)
    await expect(page.locator(WIDGET)).to_have_attribute("data-ready", "1")
    fake_llm.script = Script(deltas=[f"part{index} " for index in range(6)], gap=0.2)
    await frame.get_by_label("Your message").fill("Write slowly")
    await frame.get_by_label("Your message").press("Enter")
    await expect(frame.locator('.message[data-status="streaming"] .bubble')).to_contain_text(
        "part0"
    )
    await page.get_by_role("button", name="Close the chat").click()  # the launcher
    badge = page.locator(f"{WIDGET} .badge")
    await expect(badge).to_have_text("1")
    await page.get_by_role("button", name="Open the chat").click()
    await expect(badge).to_be_hidden()
    await expect(frame.locator(COMPLETE_ANSWER)).to_contain_text("part5")
    assert browser.errors == []


async def test_a_site_not_allowed_gets_a_blocked_frame(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, host_site: HostSite
) -> None:
    shop_origin = await host_site(site)
    tenant = await new_tenant(locale="en", allowed_origins=["https://shop.example"])
    page = await browser.new_page()
    await page.goto(f"{shop_origin}/?tenant={tenant.slug}")
    await page.get_by_role("button", name="Open the chat").click()
    # Chromium puts its error page in place of a frame that frame-ancestors refuses.
    async with asyncio.timeout(10):
        while not any(frame.url.startswith("chrome-error://") for frame in page.frames):
            await asyncio.sleep(0.05)
    assert not any(frame.url.startswith(site.url) for frame in page.frames)
    assert any("frame-ancestors" in error for error in browser.errors)
    assert await page.locator(WIDGET).get_attribute("data-ready") is None
    # Its API does not answer that site either (no CORS): the launcher keeps its own colour.
    await expect(page.locator(f"{WIDGET} .launcher")).to_have_css(
        "background-color", "rgb(36, 86, 199)"
    )
