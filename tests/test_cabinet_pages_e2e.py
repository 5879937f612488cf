"""The dialogs page in Chromium: rename, delete and undo, search with marked snippets (markup in
a message stays text), and the downloads, which carry the visitor's identity."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from playwright.async_api import Page, expect

from support.browser import PHONE, SCREENSHOTS, Browser, LiveServer
from support.cabinet_data import CabinetData, one_row
from support.fixtures import NewTenant


@pytest.fixture
async def site(live_server: Callable[..., Awaitable[LiveServer]]) -> LiveServer:
    return await live_server()


async def visitor_page(site: LiveServer, browser: Browser, slug: str) -> tuple[Page, str]:
    """The dialogs page of a fresh guest, and that guest's id."""
    page = await browser.new_page()
    await page.goto(f"{site.url}/{slug}/my/dialogs")
    await expect(page.get_by_text("No dialogs yet")).to_be_visible()
    found = await page.evaluate(
        "localStorage.getItem(`cip:${document.body.dataset.tenantId}:guest`)"
    )
    assert isinstance(found, str)
    return page, found


async def dialog_row(pool: asyncpg.Pool, tenant_id: UUID, dialog_id: UUID) -> dict[str, object]:
    return await one_row(
        pool,
        "SELECT title, title_set, deleted_at FROM dialog WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        dialog_id,
    )


async def test_rename_a_dialog(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    page, guest = await visitor_page(site, browser, tenant.slug)
    dialog_id = await data.dialog(tenant.id, guest, [("user", "Where is my **parcel**?")])
    await page.reload()
    item = page.locator("#dialog-list > li")
    await expect(item.locator(".item-title")).to_have_text("Where is my **parcel**?")
    await item.get_by_role("button", name="Rename").click()
    field = page.get_by_label("Dialog title")
    await expect(field).to_be_focused()
    await field.fill("Escape keeps the old one")
    await page.keyboard.press("Escape")
    await expect(item.locator(".item-title")).to_have_text("Where is my **parcel**?")
    await expect(item.get_by_role("button", name="Rename")).to_be_focused()

    await item.get_by_role("button", name="Rename").click()
    await page.get_by_label("Dialog title").fill("  Lost parcel  ")
    await page.keyboard.press("Enter")
    await expect(item.locator(".item-title")).to_have_text("Lost parcel")
    await expect(page.get_by_text("Title saved.")).to_be_visible()
    assert await dialog_row(pool, tenant.id, dialog_id) == {
        "title": "Lost parcel",
        "title_set": True,
        "deleted_at": None,
    }
    await page.reload()
    await expect(item.locator(".item-title")).to_have_text("Lost parcel")
    assert browser.errors == []


async def test_delete_then_undo_then_delete_for_good(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, data: CabinetData, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    page, guest = await visitor_page(site, browser, tenant.slug)
    kept = await data.dialog(tenant.id, guest, [("user", "Keep me")])
    doomed = await data.dialog(tenant.id, guest, [("user", "Delete me")])
    await page.reload()
    items = page.locator("#dialog-list > li")
    await expect(items).to_have_count(2)
    await items.filter(has_text="Delete me").get_by_role("button", name="Delete").click()
    await expect(items).to_have_count(1)
    await expect(page.locator("#undo")).to_have_text("Dialog deleted · Undo")
    undo = page.get_by_role("button", name="Undo")
    await expect(undo).to_be_focused()  # a keyboard user can take it back at once
    assert (await dialog_row(pool, tenant.id, doomed))["deleted_at"] is not None

    await undo.click()
    await expect(items).to_have_count(2)
    await expect(page.locator("#undo")).to_be_hidden()
    await expect(page.get_by_text("Dialog restored.")).to_be_visible()
    assert (await dialog_row(pool, tenant.id, doomed))["deleted_at"] is None

    await items.filter(has_text="Delete me").get_by_role("button", name="Delete").click()
    await expect(items).to_have_count(1)
    # The offer goes after a few seconds; the dialog stays deleted.
    await expect(page.locator("#undo")).to_be_hidden(timeout=20_000)
    await page.reload()
    await expect(items).to_have_count(1)
    await expect(items.locator(".item-title")).to_have_text("Keep me")
    assert (await dialog_row(pool, tenant.id, doomed))["deleted_at"] is not None
    assert (await dialog_row(pool, tenant.id, kept))["deleted_at"] is None
    assert browser.errors == []


async def test_search_marks_the_matches_and_shows_markup_as_text(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant(locale="en")
    page, guest = await visitor_page(site, browser, tenant.slug)
    refund = await data.dialog(
        tenant.id,
        guest,
        [
            ("user", "<script>window.pwned=1</script> <img src=x onerror=window.pwned=2> refund?"),
            ("assistant", "Refunds take **five** days."),
        ],
    )
    await data.dialog(tenant.id, guest, [("user", "Shipping to Canada")])
    await page.reload()
    await page.get_by_label("Search my dialogs").fill("refunds")
    await page.keyboard.press("Enter")
    results = page.locator("#search-results > li")
    await expect(results).to_have_count(1)
    await expect(page.get_by_text("1 dialog found")).to_be_visible()
    await expect(page.locator("#dialog-list")).to_be_hidden()
    snippets = results.locator(".snippet")
    await expect(snippets).to_have_text(
        [
            "Assistant: Refunds take five days.",
            "You: <script>window.pwned=1</script> <img src=x onerror=window.pwned=2> refund?",
        ]
    )
    await expect(results.locator("mark")).to_have_text(["Refunds", "refund"])
    inert = await page.evaluate("""() => ({
        pwned: window.pwned ?? null,
        scripts: document.querySelectorAll('main script').length,
        images: document.querySelectorAll('main img').length,
    })""")
    assert inert == {"pwned": None, "scripts": 0, "images": 0}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "cabinet-search-desktop.png"))

    await results.get_by_role("link").click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/my/dialogs/{refund}")
    await page.goto(f"{site.url}/{tenant.slug}/my/dialogs")
    await page.get_by_label("Search my dialogs").fill("nothing-like-it")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.get_by_text("Nothing found.")).to_be_visible()
    await page.get_by_role("button", name="Clear").click()
    await expect(page.locator("#dialog-list > li")).to_have_count(2)
    await expect(page.locator("#search-results")).to_be_hidden()

    phone = await browser.new_page(PHONE)
    await phone.goto(f"{site.url}/{tenant.slug}/my/dialogs")
    await phone.evaluate(f"localStorage.setItem('cip:{tenant.id}:guest', '{guest}')")
    await phone.reload()
    await phone.get_by_label("Search my dialogs").fill("refund")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#search-results mark").first).to_be_visible()
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.screenshot(path=str(SCREENSHOTS / "cabinet-search-phone-360x640.png"))
    assert browser.errors == []


async def test_downloads_carry_the_visitors_identity(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, data: CabinetData, tmp_path: Path
) -> None:
    tenant = await new_tenant(locale="en")
    page, guest = await visitor_page(site, browser, tenant.slug)
    dialog_id = await data.dialog(
        tenant.id, guest, [("user", "Export me"), ("assistant", "Exported **well**.")]
    )
    await page.reload()
    headers = {"X-User-Id": guest}
    api = f"{site.url}/api/v1/tenants/{tenant.id}/me/dialogs"
    expected_markdown = await (
        await page.request.get(f"{api}/{dialog_id}/export.md", headers=headers)
    ).text()
    assert expected_markdown.startswith("# Export me\n")

    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download (Markdown)").click()
    markdown = await started.value
    assert markdown.suggested_filename == f"dialog-{dialog_id}.md"
    await markdown.save_as(tmp_path / "dialog.md")
    assert (tmp_path / "dialog.md").read_text(encoding="utf-8") == expected_markdown

    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download all dialogs (JSON)").click()
    everything = await started.value
    assert everything.suggested_filename == "dialogs.json"
    await everything.save_as(tmp_path / "dialogs.json")
    exported = json.loads((tmp_path / "dialogs.json").read_text(encoding="utf-8"))
    assert [dialog["id"] for dialog in exported["dialogs"]] == [str(dialog_id)]
    assert [message["content"] for message in exported["dialogs"][0]["messages"]] == [
        "Export me",
        "Exported **well**.",
    ]

    await page.get_by_role("link", name="Export me").click()
    await expect(page.locator("#dialog-title")).to_have_text("Export me")
    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download (Markdown)").click()
    from_view = await started.value
    await from_view.save_as(tmp_path / "from-view.md")
    assert (tmp_path / "from-view.md").read_text(encoding="utf-8") == expected_markdown
    assert browser.errors == []
