"""The pages end to end, in a real browser against the real endpoints: the app on a loopback
port, the fake DeepSeek streaming the answers, the loopback SMTP server receiving the mails."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from support.browser import PHONE, SCREENSHOTS, Browser, LiveServer
from support.cabinet_data import CabinetData, one_row
from support.fake_llm import FakeLlm, Script
from support.fixtures import NewTenant, StartServer
from support.smtp_server import SmtpServer

PASSWORD = "correct horse battery"
COMPLETE_ANSWER = '#messages .message.assistant[data-status="complete"] .bubble.formatted'


@pytest.fixture
async def site(
    live_server: Callable[..., Awaitable[LiveServer]], fake_llm: FakeLlm, smtp_server: SmtpServer
) -> LiveServer:
    return await live_server(
        llm={"api_url": fake_llm.url, "api_key": "sk-test"},
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "retry_delay": 0.01},
    )


async def send(page: Page, text: str) -> None:
    await page.get_by_label(re.compile("Your message|Ваше сообщение")).fill(text)
    await page.keyboard.press("Enter")


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """The first truthy value of `check()`, polled until `timeout` (server-side effects of a
    browser action land a moment later)."""
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.05)
    return value


async def guest_id(page: Page, tenant_id: Any) -> str | None:
    """The guest id the page keeps for a tenant, if it keeps one."""
    found: str | None = await page.evaluate(f"localStorage.getItem('cip:{tenant_id}:guest')")
    return found


async def messages_of(pool: asyncpg.Pool, tenant_id: Any) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT m.role, m.content, m.status, d.user_id, d.id AS dialog_id FROM message m "
        "JOIN dialog d ON d.tenant_id = m.tenant_id AND d.id = m.dialog_id "
        "WHERE m.tenant_id = $1 ORDER BY m.created_at, m.id",
        tenant_id,
    )


RECORD_STREAMING_LENGTHS = """() => {
    window.streamedLengths = [];
    const record = () => {
        const bubble = document.querySelector(
          '#messages .message[data-status="streaming"] .bubble');
        const length = bubble?.textContent.length ?? -1;
        if (length > 0 && window.streamedLengths.at(-1) !== length) {
          window.streamedLengths.push(length);
        }
    };
    new MutationObserver(record).observe(document.querySelector('#messages'),
        { subtree: true, childList: true, characterData: true });
}"""


async def test_answer_streams_in_and_the_dialog_continues(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en", welcome_message="Hi, I am the ACME assistant.")
    deltas = [f"word{index} " for index in range(10)]
    fake_llm.script = Script(deltas=deltas, gap=0.15)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await expect(page.locator(".message.welcome")).to_contain_text("Hi, I am the ACME assistant.")

    await page.evaluate(RECORD_STREAMING_LENGTHS)
    await send(page, "Tell me about ACME")
    streaming = page.locator('#messages .message[data-status="streaming"] .bubble')
    await expect(streaming).to_contain_text("word3")
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "chat-desktop-mid-stream.png"))
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("".join(deltas).strip())

    lengths = await page.evaluate("window.streamedLengths")
    assert len(lengths) >= 3 and lengths == sorted(set(lengths))  # painted piece by piece
    assert await page.locator(".message.welcome").count() == 0

    fake_llm.script = Script(deltas=["Second ", "answer."])
    await send(page, "And what else?")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(2)
    await expect(page.locator(COMPLETE_ANSWER).nth(1)).to_have_text("Second answer.")
    # The second request carried the first turn: the same dialog continued.
    sent = [(turn["role"], turn["content"]) for turn in fake_llm.requests[1].json["messages"]]
    assert sent[-3:] == [
        ("user", "Tell me about ACME"),
        ("assistant", "".join(deltas)),
        ("user", "And what else?"),
    ]
    rows = await messages_of(pool, tenant.id)
    guest = await guest_id(page, tenant.id)
    assert [(row["role"], row["status"]) for row in rows] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ] * 2
    assert {row["dialog_id"] for row in rows} == {rows[0]["dialog_id"]}
    assert {row["user_id"] for row in rows} == {guest}

    await page.reload()  # the dialog is kept across visits
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(2)

    await page.get_by_role("button", name="New dialog").click()
    await expect(page.locator(".message.welcome")).to_be_visible()
    fake_llm.script = Script(deltas=["Fresh start."])
    await send(page, "Hello again")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("Fresh start.")
    assert [turn["role"] for turn in fake_llm.requests[2].json["messages"]] == ["system", "user"]
    assert len({row["dialog_id"] for row in await messages_of(pool, tenant.id)}) == 2
    assert browser.errors == [] and browser.dialogs == []


async def test_stop_keeps_the_partial_answer(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["Part *one*. ", "Part two. "], gap=0.1, after="stall")
    page = await browser.new_page()
    stops: list[str] = []
    page.on(
        "request", lambda request: stops.append(request.url) if "/stop" in request.url else None
    )
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Write a long story")
    answer = page.locator("#messages .message.assistant").last
    # Formatted while it streams: never the raw markdown.
    await expect(answer.locator(".bubble")).to_have_text("Part one. Part two.")
    await expect(answer.locator(".bubble em")).to_have_text("one")
    await page.get_by_role("button", name="Stop").click()

    # The server stopped it: the answer is kept, stored and shown formatted, marked stopped.
    await expect(answer).to_have_attribute("data-status", "stopped")
    await expect(answer.locator(".message-note")).to_have_text("Answer stopped")
    await expect(answer.locator(".bubble em")).to_have_text("one")
    await expect(page.get_by_role("button", name="Send")).to_be_visible()
    await asyncio.wait_for(fake_llm.disconnected.wait(), 10)  # nobody pays for unread tokens
    assert len(stops) == 1

    async def saved_as_stopped() -> list[asyncpg.Record]:
        rows = await messages_of(pool, tenant.id)
        return [row for row in rows if row["role"] == "assistant" and row["status"] == "stopped"]

    [row] = await eventually(saved_as_stopped)
    assert row["content"] == "Part *one*. Part two. "
    assert browser.errors == []


async def test_a_reload_mid_answer_shows_the_text_so_far_and_keeps_painting(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="en")
    deltas = [f"word{index} " for index in range(16)]
    fake_llm.script = Script(deltas=deltas, gap=0.15)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Tell me a long story")
    streaming = page.locator('#messages .message[data-status="streaming"] .bubble')
    await expect(streaming).to_contain_text("word3")

    await page.reload()  # mid-answer: the answer goes on without the page
    await page.evaluate(RECORD_STREAMING_LENGTHS)
    # The text so far at once (it was written before the reload), then the rest as it comes.
    await expect(streaming).to_contain_text("word3")
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("".join(deltas).strip())
    lengths = await page.evaluate("window.streamedLengths")
    assert len(lengths) >= 2 and lengths == sorted(set(lengths))  # kept painting after reload
    [question, answer] = await messages_of(pool, tenant.id)
    assert (question["content"], answer["content"], answer["status"]) == (
        "Tell me a long story",
        "".join(deltas),
        "complete",
    )
    assert len(fake_llm.requests) == 1  # resumed, never asked again
    assert browser.errors == []


async def test_regenerate_gives_a_second_answer_and_keeps_the_first(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["First ", "try."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Give me a slogan")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("First try.")
    fake_llm.script = Script(deltas=["Second ", "try."], gap=0.1)
    await page.get_by_role("button", name="Regenerate").click()
    answers = page.locator("#messages .message.assistant")
    await expect(answers).to_have_count(2)
    await expect(answers.nth(0)).to_have_class(re.compile(r"\bsuperseded\b"))
    await expect(answers.nth(1).locator(".bubble")).to_have_text("Second try.")
    await expect(answers.nth(0).locator(".answer-place")).to_have_text("Answer 1 of 2")
    await expect(answers.nth(1).locator(".answer-place")).to_have_text("Answer 2 of 2")
    # Only the latest answer offers to be given again.
    await expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)
    await expect(answers.nth(1).get_by_role("button", name="Regenerate")).to_be_visible()
    await page.reload()
    await expect(answers.nth(0).locator(".answer-place")).to_have_text("Answer 1 of 2")
    assert len(fake_llm.requests) == 2
    assert browser.errors == []


async def test_cabinet_lists_opens_saves_and_deletes(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
    data: CabinetData,
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["The **answer** ", "to keep."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "What should I keep?")
    answer = page.locator("#messages .message.assistant").last
    await expect(answer.locator(".bubble strong")).to_have_text("answer")  # markdown, formatted
    await answer.get_by_role("button", name="Save").click()
    await expect(answer.get_by_role("button", name="Unsave")).to_be_visible()
    await expect(answer.locator(".saved-note")).to_have_text("Saved")
    assert (
        await pool.fetchval("SELECT count(*) FROM saved_item WHERE tenant_id = $1", tenant.id) == 1
    )

    await page.get_by_role("link", name="My account").click()
    await expect(page.get_by_text("You are using the site as a guest")).to_be_visible()
    await page.get_by_role("link", name=re.compile("^Dialogs")).click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/my/dialogs")
    await page.get_by_role("link", name=re.compile("What should I keep")).click()
    await expect(page.locator("#dialog-title")).to_have_text("What should I keep?")
    await expect(page.locator("#messages .message.user .bubble")).to_have_text(
        "What should I keep?"
    )
    await expect(page.locator("#messages .message.assistant .bubble")).to_have_text(
        "The answer to keep."
    )
    dialog_url = page.url
    continue_link = page.get_by_role("link", name="Continue in the chat")
    assert await continue_link.get_attribute("href") == (
        f"/{tenant.slug}/chat?dialog={dialog_url.rsplit('/', 1)[1]}"
    )

    await page.goto(f"{site.url}/{tenant.slug}/my/saved")
    saved = page.locator("#saved-list > li")
    await expect(saved).to_have_count(1)
    await expect(saved.locator(".bubble")).to_have_text("The answer to keep.")
    await saved.get_by_role("link", name="Open the dialog").click()
    await expect(page).to_have_url(dialog_url)
    await page.goto(f"{site.url}/{tenant.slug}/my/saved")
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator("#saved-list > li")).to_have_count(0)
    await expect(page.get_by_text("Answers you save in the chat will appear here.")).to_be_visible()
    assert (
        await pool.fetchval("SELECT count(*) FROM saved_item WHERE tenant_id = $1", tenant.id) == 0
    )

    # Paging: 25 more dialogs of this guest, 20 to a page.
    guest = await guest_id(page, tenant.id)
    assert guest is not None
    for number in range(1, 26):
        await data.dialog(
            tenant.id,
            guest,
            [
                ("user", f"Question {number}: when do you deliver?"),
                ("assistant", f"Answer {number}: within two days."),
            ],
        )
    phone = await browser.new_page(PHONE)
    await phone.goto(f"{site.url}/{tenant.slug}/my/dialogs")
    await expect(phone.locator("#dialog-list > li")).to_have_count(20)
    await expect(phone.locator("#page-info")).to_have_text("Page 1 of 2")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=str(SCREENSHOTS / "cabinet-phone-360x640.png"))
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.get_by_role("link", name="Next →").click()
    await expect(phone.locator("#dialog-list > li")).to_have_count(6)
    await expect(phone.locator("#page-info")).to_have_text("Page 2 of 2")
    assert browser.errors == []


async def test_profile_edit_persists_across_reload(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, pool: asyncpg.Pool
) -> None:
    tenant = await new_tenant(locale="ru")
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/my/profile")
    await page.get_by_label("Имя").fill("Анна")
    await page.get_by_label("Контакт").fill("+7 900 000-00-00")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.get_by_text("Профиль сохранён.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Имя")).to_have_value("Анна")
    await expect(page.get_by_label("Контакт")).to_have_value("+7 900 000-00-00")

    await page.get_by_label("Контакт").fill("")  # an emptied field is cleared
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.get_by_text("Профиль сохранён.")).to_be_visible()
    row = await one_row(
        pool,
        "SELECT user_id, display_name, contact FROM user_profile WHERE tenant_id = $1",
        tenant.id,
    )
    assert row == {
        "user_id": await guest_id(page, tenant.id),
        "display_name": "Анна",
        "contact": None,
    }
    assert browser.errors == []


async def test_register_confirm_login_keeps_the_guest_history(
    site: LiveServer,
    browser: Browser,
    fake_llm: FakeLlm,
    smtp_server: SmtpServer,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["Guest answer."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "A question asked as a guest")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_text("Guest answer.")
    guest = await guest_id(page, tenant.id)

    await page.get_by_role("link", name="Sign up").click()
    await page.get_by_label("Email").fill("Visitor@Example.com")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Repeat the password").fill(PASSWORD + "x")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_text("The passwords do not match.")).to_be_visible()
    await page.get_by_label("Repeat the password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_text("Check your email")).to_be_visible()

    [mail] = await smtp_server.wait_for(1)
    [link] = [link for link in mail.links if "/confirm?token=" in link]
    assert link.startswith(f"{site.url}/{tenant.slug}/confirm?token=")
    await page.goto(link)
    await expect(page.get_by_text("Your email is confirmed.")).to_be_visible()
    assert "token" not in page.url  # taken out of the address bar and the history
    await page.get_by_role("link", name="Log in").last.click()

    await expect(page).to_have_url(re.compile(f"/{tenant.slug}/login"))
    await page.get_by_label("Email").fill("visitor@example.com")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/my")
    await expect(page.get_by_text("You are logged in as visitor@example.com.")).to_be_visible()
    assert await guest_id(page, tenant.id) is None  # the guest id is handed over and forgotten

    account_id = await pool.fetchval("SELECT id FROM account WHERE tenant_id = $1", tenant.id)
    rows = await messages_of(pool, tenant.id)
    assert {row["user_id"] for row in rows} == {str(account_id)} and guest != str(account_id)
    await page.get_by_role("link", name=re.compile("^Dialogs")).click()
    await expect(page.locator("#dialog-list > li")).to_have_count(1)
    await expect(page.locator("#dialog-list")).to_contain_text("A question asked as a guest")

    # Logged in, the chat sends the token only, and continues the moved dialog.
    fake_llm.script = Script(deltas=["Account answer."])
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    async with page.expect_request(re.compile("/chat$")) as chat_request:
        await send(page, "Now as an account")
    request = await chat_request.value
    assert request.headers["authorization"].startswith("Bearer ")
    assert "x-user-id" not in request.headers
    assert "user_id" not in (request.post_data_json or {})
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(2)
    assert len({row["dialog_id"] for row in await messages_of(pool, tenant.id)}) == 1

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/chat")
    await expect(page.get_by_role("link", name="Log in")).to_be_visible()
    await expect(
        page.locator(".message.welcome")
    ).to_be_visible()  # the account's dialog is not shown
    # The one failed request was the wrong password.
    assert [error for error in browser.errors if "status of 401" not in error] == []


async def register_confirmed(site: LiveServer, smtp: SmtpServer, tenant: Any, email: str) -> None:
    api = f"{site.url}/api/v1/tenants"
    before = len(smtp.received)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{api}/{tenant.id}/register", json={"email": email, "password": PASSWORD}
        )
        assert response.status == 202
        mail = (await smtp.wait_for(before + 1))[-1]
        link = next(link for link in mail.links if "/confirm?token=" in link)
        token = urlsplit(link).query.split("=", 1)[1]
        confirmed = await http.get(f"{api}/by-slug/{tenant.slug}/confirm", params={"token": token})
        assert confirmed.status == 200


async def test_login_follows_next_only_within_the_tenant(
    site: LiveServer, browser: Browser, smtp_server: SmtpServer, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    await register_confirmed(site, smtp_server, tenant, "next@example.com")
    page = await browser.new_page()
    for raw_next, landing in [
        (f"/{tenant.slug}/my/saved", f"/{tenant.slug}/my/saved"),
        ("https://evil.example/steal", f"/{tenant.slug}/my"),
        (f"//evil.example/{tenant.slug}/", f"/{tenant.slug}/my"),
    ]:
        await page.goto(f"{site.url}/{tenant.slug}/login?next={raw_next}")
        await page.get_by_label("Email").fill("next@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{site.url}{landing}")
        await page.evaluate("localStorage.clear()")
    # The chat's login link brings the visitor back to the chat.
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    assert await page.get_by_role("link", name="Log in").get_attribute("href") == (
        f"/{tenant.slug}/login?next=%2F{tenant.slug}%2Fchat"
    )
    assert browser.errors == []


async def test_forgot_and_reset_password(
    site: LiveServer, browser: Browser, smtp_server: SmtpServer, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    await register_confirmed(site, smtp_server, tenant, "forgetful@example.com")
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/login")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill("forgetful@example.com")
    await page.get_by_role("button", name="Send the link").click()
    await expect(page.get_by_text("If there is such an account")).to_be_visible()
    mail = (await smtp_server.wait_for(2))[1]
    [link] = [link for link in mail.links if "/reset?token=" in link]
    await page.goto(link)
    assert "token" not in page.url
    await page.get_by_label("New password").fill("a brand new secret")
    await page.get_by_label("Repeat the password").fill("a brand new secret")
    await page.get_by_role("button", name="Change the password").click()
    await expect(page.get_by_text("Your password has been changed.")).to_be_visible()

    await page.goto(link)  # single use
    await page.get_by_label("New password").fill("another new secret")
    await page.get_by_label("Repeat the password").fill("another new secret")
    await page.get_by_role("button", name="Change the password").click()
    await expect(page.get_by_text("This link is not valid")).to_be_visible()

    await page.goto(f"{site.url}/{tenant.slug}/login")
    await page.get_by_label("Email").fill("forgetful@example.com")
    await page.get_by_label("Password").fill("a brand new secret")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{site.url}/{tenant.slug}/my")


async def test_assistant_markup_executes_nothing(
    site: LiveServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(
        deltas=[
            'Look: <img src=x onerror="window.pwned=1;alert(1)"> ',
            "<script>window.pwned=2;alert(2)</script> ",
            "[click me](javascript:window.pwned=3) and [fine](https://example.com/docs)\n\n",
            '<a href="javascript:alert(4)">raw link</a> <svg onload=alert(5)></svg>',
        ],
        gap=0.05,
    )
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "Show me some HTML")
    await expect(page.locator(COMPLETE_ANSWER)).to_have_count(1)
    await page.locator(".message.assistant .save").click()
    await expect(page.locator(".message.assistant .saved-note")).to_have_text("Saved")

    async def assert_inert(where: str) -> None:
        found = await page.evaluate("""() => ({
            pwned: window.pwned ?? null,
            img: document.querySelectorAll('main img').length,
            script: document.querySelectorAll('main script').length,
            // in what the model wrote (the page's own icons are drawn SVG)
            svg: document.querySelectorAll('main .bubble svg').length,
            jsLinks: [...document.querySelectorAll('main a')].filter(
                (a) => /^\\s*javascript:/i.test(a.getAttribute('href') ?? '')).length,
            handlers: [...document.querySelectorAll('main *')].filter(
                (node) => [...node.attributes].some((attribute) => attribute.name.startsWith('on'))
              ).length,
        })""")
        assert found == {
            "pwned": None,
            "img": 0,
            "script": 0,
            "svg": 0,
            "jsLinks": 0,
            "handlers": 0,
        }, where

    await assert_inert("chat")
    await expect(page.locator(COMPLETE_ANSWER)).to_contain_text("<img src=x")  # shown as text
    assert await page.locator(COMPLETE_ANSWER).locator("a", has_text="fine").get_attribute(
        "href"
    ) == ("https://example.com/docs")
    dialog_id = await page.evaluate(f"localStorage.getItem('cip:{tenant.id}:dialog')")
    await page.goto(f"{site.url}/{tenant.slug}/my/dialogs/{dialog_id}")
    await expect(page.locator("#messages .message.assistant .bubble")).to_contain_text("raw link")
    await assert_inert("dialog view")
    await page.goto(f"{site.url}/{tenant.slug}/my/saved")
    await expect(page.locator("#saved-list .bubble")).to_contain_text("raw link")
    await assert_inert("saved")
    # Any image (and its onerror) would have been fetched by the time the network is idle.
    await page.wait_for_load_state("networkidle")
    assert browser.dialogs == []
    assert browser.errors == []


async def test_failures_are_explained_in_the_page_language(
    live_server: StartServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    site = await live_server(
        llm={"api_url": fake_llm.url, "api_key": "sk-test"}, limits={"chat_per_user_per_minute": 2}
    )
    tenant = await new_tenant(locale="ru")
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    status = page.locator("#chat-status")

    fake_llm.script = Script(status=500)
    await send(page, "Первый вопрос")
    await expect(status).to_have_text(
        "Ассистент сейчас недоступен. Ваше сообщение сохранено — попробуйте позже."
    )
    dialog_id = await page.evaluate(f"localStorage.getItem('cip:{tenant.id}:dialog')")
    assert dialog_id  # the saved question's dialog is continued by the next message

    fake_llm.script = Script(deltas=["Ответ."])
    await send(page, "Второй вопрос")
    await expect(page.locator(COMPLETE_ANSWER).last).to_have_text("Ответ.")
    # Same dialog: the unanswered first question went up with the second one.
    assert fake_llm.requests[-1].json["messages"][-1] == {
        "role": "user",
        "content": "Первый вопрос\n\nВторой вопрос",
    }

    await send(page, "Третий вопрос")  # the third in a minute, two allowed
    await expect(status).to_have_text(
        re.compile(r"^Слишком много запросов\. Попробуйте снова через \d+ с\.$")
    )
    await expect(page.get_by_label("Ваше сообщение")).to_have_value(
        "Третий вопрос"
    )  # offered again

    await browser.context.set_offline(True)
    await page.get_by_role("button", name="Отправить").click()
    await expect(status).to_have_text(
        "Нет связи с сервером. Проверьте подключение и попробуйте ещё раз."
    )
    await browser.context.set_offline(False)

    unconfigured = await live_server(llm={"api_url": fake_llm.url, "api_key": ""})
    await page.goto(f"{unconfigured.url}/{tenant.slug}/chat")
    await send(page, "Есть кто?")
    await expect(status).to_have_text(
        "Ассистент ещё не настроен на этом сайте. Ваше сообщение сохранено."
    )
    assert browser.dialogs == []


async def test_a_used_up_quota_is_explained_in_the_page_language(
    live_server: StartServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    site = await live_server(llm={"api_url": fake_llm.url, "api_key": "sk-test"})
    tenant = await new_tenant(locale="en", monthly_answer_quota=1)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    fake_llm.script = Script(deltas=["Answer."])
    await send(page, "First question")
    await expect(page.locator(COMPLETE_ANSWER).last).to_have_text("Answer.")
    await send(page, "Second question")
    await expect(page.locator("#chat-status")).to_have_text(
        "The assistant's answers for this month are used up. Please try again later."
    )
    assert len(fake_llm.requests) == 1


async def test_a_refused_message_is_offered_again(
    live_server: StartServer, browser: Browser, fake_llm: FakeLlm, new_tenant: NewTenant
) -> None:
    site = await live_server(llm={"api_url": fake_llm.url, "api_key": "sk-test"})
    tenant = await new_tenant(locale="en", limits={"message_max_chars": 10})
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await send(page, "This question is far too long")
    await expect(page.locator("#chat-status")).not_to_have_text("")
    await expect(page.get_by_label("Your message")).to_have_value("This question is far too long")
    assert fake_llm.requests == []


async def test_a_long_dialog_opens_at_its_newest_messages_and_shows_earlier_ones(
    site: LiveServer, browser: Browser, new_tenant: NewTenant, data: CabinetData
) -> None:
    tenant = await new_tenant(locale="en")
    user_id = "guest-long-dialog"
    turns = [("user" if n % 2 == 0 else "assistant", f"message {n}") for n in range(60)]
    dialog_id = await data.dialog(tenant.id, user_id, turns)
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    await page.evaluate(f"localStorage.setItem('cip:{tenant.id}:guest', '{user_id}')")
    await page.goto(f"{site.url}/{tenant.slug}/my/dialogs/{dialog_id}")
    messages = page.locator("#messages .message")
    earlier = page.get_by_role("button", name="Show earlier messages")
    await expect(messages).to_have_count(50)
    await expect(messages.first).to_contain_text("message 10")
    await earlier.click()
    await expect(messages).to_have_count(60)
    await expect(messages.first).to_contain_text("message 0")
    await expect(messages.last).to_contain_text("message 59")
    await expect(earlier).to_have_count(0)
    # The chat continues the same dialog from its newest page, with the same way back.
    await page.locator("#continue").click()
    await expect(messages).to_have_count(50)
    await earlier.click()
    await expect(messages).to_have_count(60)
    assert browser.errors == []


async def test_a_chat_refused_as_busy_is_sent_again_by_the_page(
    live_server: StartServer,
    browser: Browser,
    fake_llm: FakeLlm,
    new_tenant: NewTenant,
    pool: asyncpg.Pool,
) -> None:
    """One admission slot, held by a chat whose opening write waits on a lock: the page's
    question is refused 503 `busy`; the page says it will send it again, and does after the
    Retry-After, once the crowd (here the lock) is gone; the question is stored once."""
    site = await live_server(
        llm={"api_url": fake_llm.url, "api_key": "sk-test"},
        database={"pool_min_size": 1, "pool_max_size": 1},
        server={"chat_admission_wait": 0.5},
    )
    tenant = await new_tenant(locale="en")
    fake_llm.script = Script(deltas=["Answer."])
    page = await browser.new_page()
    await page.goto(f"{site.url}/{tenant.slug}/chat")
    # A guest id that cannot be an account's: the page's question needs no connection before
    # it queues to be let in (the one connection waits on the lock).
    await page.evaluate(f"localStorage.setItem('cip:{tenant.id}:guest', 'page-visitor')")
    await page.reload()
    url = f"{site.url}/api/v1/tenants/{tenant.id}/chat"
    async with aiohttp.ClientSession() as http, pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE dialog IN EXCLUSIVE MODE")
        crowd = asyncio.create_task(
            http.post(url, json={"user_id": "crowd-visitor", "message": "Before you"})
        )
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'dialog'::regclass"
        )
        await eventually(lambda: pool.fetchval(waiting))
        await send(page, "My question")
        await expect(page.locator("#chat-status")).to_contain_text("Many visitors are asking")
        await transaction.rollback()
        (await crowd).close()
    await expect(page.locator(COMPLETE_ANSWER).last).to_have_text("Answer.")
    await expect(page.locator("#chat-status")).to_have_text("")
    questions = [
        row["content"] for row in await messages_of(pool, tenant.id) if row["role"] == "user"
    ]
    assert questions.count("My question") == 1
