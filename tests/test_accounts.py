"""Accounts end to end: register, mails on a loopback SMTP server, confirm, login, reset,
guest merge, throttling, and bcrypt kept off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from cip import keys
from cip.accounts import passwords
from cip.app import create_app
from cip.db.housekeeping import prune
from cip.db.store import credentials
from cip.db.store.tenants import TenantRow
from cip.http.jsonio import json_response
from support.clock import ManualClock
from support.fixtures import Client, MakeConfig
from support.live_server import free_port
from support.smtp_server import Received, SmtpServer

BASE_URL = "http://cip.test"
PASSWORD = "correct horse battery"
REGISTERED = {
    "message": "Thank you! Check your inbox: we have sent you an email with the next step."
}
BAD_CREDENTIALS = {"detail": "Wrong email or password.", "code": "invalid_credentials"}
BAD_TOKEN = {
    "detail": "The access token is invalid or expired. Please log in again.",
    "code": "invalid_token",
}
ClientFactory = Callable[..., Awaitable[Client]]
Elsewhere = Callable[[str], aiohttp.ClientSession]


async def whoami(request: web.Request) -> web.Response:
    """Test-only route: the identity a request resolves to, through the app's identities."""
    who = await request.app[keys.IDENTITIES].resolve(
        tenant_id=UUID(request.match_info["tenant_id"]),
        authorization=request.headers.get("Authorization"),
        guest_id=request.headers.get("X-User-Id"),
    )
    return json_response({"user_id": who.user_id, "account": who.account_id is not None})


@pytest.fixture
def make_client(
    aiohttp_client: AiohttpClient,
    make_config: MakeConfig,
    smtp_server: SmtpServer,
    clock: ManualClock,
) -> ClientFactory:
    """A client of the app with mail going to `smtp_server` (or where `smtp` says)."""

    async def make(**sections: dict[str, Any]) -> Client:
        smtp = {
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "retries": 2,
            "retry_delay": 0.01,
            **sections.pop("smtp", {}),
        }
        config = make_config(server={"base_url": BASE_URL}, smtp=smtp, **sections)
        app = create_app(config, clock=clock)
        app.router.add_get("/test/{tenant_id}/whoami", whoami)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> Client:
    return await make_client()


@pytest.fixture
async def elsewhere() -> AsyncIterator[Elsewhere]:
    """Visitors at other client addresses: `elsewhere("127.0.0.2")` is an HTTP session whose
    connections leave from that loopback address, which the app sees as `request.remote`
    (the test client's own requests come from 127.0.0.1)."""
    sessions: dict[str, aiohttp.ClientSession] = {}

    def at(address: str) -> aiohttp.ClientSession:
        if address not in sessions:
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            sessions[address] = aiohttp.ClientSession(connector=connector)
        return sessions[address]

    yield at
    for session in sessions.values():
        await session.close()


def url(tenant: TenantRow, path: str) -> str:
    return f"/api/v1/tenants/{tenant.id}/{path}"


async def post(
    client: Client,
    tenant: TenantRow,
    path: str,
    body: dict[str, Any],
    via: aiohttp.ClientSession | None = None,
) -> Any:
    """POST to the client's app, from the test client or from the session `via`."""
    if via is None:
        return await client.post(url(tenant, path), json=body)
    return await via.post(client.make_url(url(tenant, path)), json=body)


def token_in(mail: Received, tenant: TenantRow, page: str) -> str:
    """Follow the mail's link: it must point at the tenant's page; the token it carries."""
    [link] = mail.links
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE_URL}/{tenant.slug}/{page}"
    [token] = parse_qs(parts.query)["token"]
    assert link in mail.html  # the HTML part carries the same link
    return token


async def register_and_confirm(
    client: Client, smtp: SmtpServer, tenant: TenantRow, email: str, password: str = PASSWORD
) -> None:
    count = len(smtp.received)
    assert (
        await post(client, tenant, "register", {"email": email, "password": password})
    ).status == 202
    mail = (await smtp.wait_for(count + 1))[-1]
    token = token_in(mail, tenant, "confirm")
    assert (await client.get(url(tenant, "confirm"), params={"token": token})).status == 200


async def login(
    client: Client,
    tenant: TenantRow,
    email: str,
    password: str = PASSWORD,
    via: aiohttp.ClientSession | None = None,
    **extra: Any,
) -> Any:
    body = {"email": email, "password": password, **extra}
    return await post(client, tenant, "login", body, via=via)


async def who(client: Client, tenant: TenantRow, access_token: str) -> Any:
    return await client.get(
        f"/test/{tenant.id}/whoami", headers={"Authorization": f"Bearer {access_token}"}
    )


async def test_register_confirm_by_slug_login_and_use_the_token(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = await new_tenant(locale="en")
    response = await post(
        client, tenant, "register", {"email": "  Ann@Example.COM ", "password": PASSWORD}
    )
    assert response.status == 202
    assert await response.json() == REGISTERED

    [mail] = await smtp_server.wait_for(1)
    assert mail.envelope_to == ["ann@example.com"]
    assert mail.subject == f"Confirm your email for {tenant.name}"
    assert "24 hours" in mail.text
    token = token_in(mail, tenant, "confirm")
    stored = await pool.fetch(
        "SELECT token_hash, purpose FROM account_token WHERE tenant_id = $1", tenant.id
    )
    assert [row["purpose"] for row in stored] == ["confirm_email"]
    assert token.encode() not in stored[0]["token_hash"]

    confirmed = await client.get(
        f"/api/v1/tenants/by-slug/{tenant.slug}/confirm", params={"token": token}
    )
    assert confirmed.status == 200
    assert await confirmed.json() == {"message": "Your email is confirmed. You can log in now."}

    response = await login(client, tenant, "ann@example.com")
    assert response.status == 200
    body = await response.json()
    account = await pool.fetchrow(
        "SELECT id, email_confirmed_at FROM account WHERE tenant_id = $1", tenant.id
    )
    assert account["email_confirmed_at"] is not None
    assert body == {
        "access_token": body["access_token"],
        "token_type": "bearer",
        "expires_in": 10080 * 60,
        "user_id": str(account["id"]),
        "tenant_id": str(tenant.id),
    }
    me = await who(client, tenant, body["access_token"])
    assert await me.json() == {"user_id": str(account["id"]), "account": True}
    # nothing secret reached the service's log (the test server's access log and the fake
    # SMTP server's are not the service's: `cip serve` runs without an access log)
    service_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cip"))
    assert "POST /api/v1/tenants" in service_log
    for secret in (PASSWORD, token, body["access_token"], "confirm?token"):
        assert secret not in service_log


async def test_confirm_by_tenant_id_is_single_use(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant()
    await post(client, tenant, "register", {"email": "bob@example.com", "password": PASSWORD})
    [mail] = await smtp_server.wait_for(1)
    assert mail.subject == f"Подтвердите email для {tenant.name}"  # the tenant's language
    token = token_in(mail, tenant, "confirm")
    first = await client.get(url(tenant, "confirm"), params={"token": token})
    assert first.status == 200
    again = await client.get(url(tenant, "confirm"), params={"token": token})
    assert again.status == 400
    assert await again.json() == {
        "detail": "This confirmation link is unknown, used or expired. Ask for a new one.",
        "code": "invalid_confirmation_token",
    }
    by_slug = await client.get(
        f"/api/v1/tenants/by-slug/{tenant.slug}/confirm", params={"token": token}
    )
    assert by_slug.status == 400


async def test_expired_unknown_and_missing_confirmation_tokens(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any
) -> None:
    tenant = await new_tenant()
    await post(client, tenant, "register", {"email": "late@example.com", "password": PASSWORD})
    token = token_in((await smtp_server.wait_for(1))[0], tenant, "confirm")
    await pool.execute(
        "UPDATE account_token SET expires_at = now() - interval '1 second' WHERE tenant_id = $1",
        tenant.id,
    )
    assert (await client.get(url(tenant, "confirm"), params={"token": token})).status == 400
    assert (await client.get(url(tenant, "confirm"), params={"token": "nope"})).status == 400
    missing = await client.get(url(tenant, "confirm"))
    assert missing.status == 400 and (await missing.json())["code"] == "validation_error"
    assert (
        await pool.fetchval(
            "SELECT email_confirmed_at FROM account WHERE tenant_id = $1", tenant.id
        )
        is None
    )
    # a day after expiry housekeeping drops the token row
    await pool.execute(
        "UPDATE account_token SET expires_at = now() - interval '2 days' WHERE tenant_id = $1",
        tenant.id,
    )
    await prune(pool, at=time.time())
    assert (
        await pool.fetchval("SELECT count(*) FROM account_token WHERE tenant_id = $1", tenant.id)
        == 0
    )
    # a token of another tenant is unknown here
    other = await new_tenant()
    await post(client, other, "register", {"email": "late@example.com", "password": PASSWORD})
    other_token = token_in((await smtp_server.wait_for(2))[1], other, "confirm")
    assert (await client.get(url(tenant, "confirm"), params={"token": other_token})).status == 400


async def test_unconfirmed_login_is_403_and_wrong_pairs_are_401_alike(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant()
    await post(client, tenant, "register", {"email": "carl@example.com", "password": PASSWORD})
    response = await login(client, tenant, "carl@example.com")
    assert response.status == 403
    assert await response.json() == {
        "detail": "Please confirm your email first: follow the link in the mail we sent you.",
        "code": "email_not_confirmed",
    }
    wrong = await login(client, tenant, "carl@example.com", "not the password")
    unknown = await login(client, tenant, "nobody@example.com")
    assert (wrong.status, await wrong.json()) == (401, BAD_CREDENTIALS)
    assert (unknown.status, await unknown.json()) == (401, BAD_CREDENTIALS)


async def test_taken_email_gets_the_same_answer_and_a_different_mail(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant(locale="en")
    await register_and_confirm(client, smtp_server, tenant, "dana@example.com")
    again = await post(
        client, tenant, "register", {"email": "DANA@example.com", "password": "another password"}
    )
    assert again.status == 202
    assert await again.json() == REGISTERED
    mail = (await smtp_server.wait_for(2))[1]
    assert mail.envelope_to == ["dana@example.com"]
    assert mail.subject == f"You already have an account at {tenant.name}"
    assert mail.links == [f"{BASE_URL}/{tenant.slug}/login"]
    assert (await login(client, tenant, "dana@example.com", "another password")).status == 401
    assert (await login(client, tenant, "dana@example.com")).status == 200


@pytest.mark.parametrize("owner_first", [False, True], ids=["stranger-first", "owner-first"])
async def test_a_second_registration_leaves_the_password_to_the_mailbox_owner(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any, owner_first: bool
) -> None:
    """A stranger registers the owner's address with a password of their own, before or after
    the owner does: no link activates either password, the owner chooses one from the mail,
    and nothing the stranger prepared reaches the account."""
    tenant = await new_tenant(locale="en")
    email, strangers = "una@example.com", "the stranger's password"
    for password in [PASSWORD, strangers] if owner_first else [strangers, PASSWORD]:
        registered = await post(client, tenant, "register", {"email": email, "password": password})
        assert (registered.status, await registered.json()) == (202, REGISTERED)
    first, second = await smtp_server.wait_for(2)
    assert first.subject == f"Confirm your email for {tenant.name}"
    stale = await client.get(
        url(tenant, "confirm"), params={"token": token_in(first, tenant, "confirm")}
    )
    assert stale.status == 400  # it would have activated the first registration's password
    assert second.subject == f"Confirm your email and choose a password for {tenant.name}"
    assert "24 hours" in second.text
    # Unconfirmed, no password works; a guest's data prepared by the stranger stays the guest's.
    planted = await pool.fetchval(
        "INSERT INTO dialog (tenant_id, user_id, title) VALUES ($1, 'planted', 'Call +1 555')"
        " RETURNING id",
        tenant.id,
    )
    for password in (strangers, PASSWORD):
        early = await login(client, tenant, email, password, guest_user_id="planted")
        assert (early.status, await early.json()) == (401, BAD_CREDENTIALS)

    chosen = await post(
        client,
        tenant,
        "password/reset",
        {"token": token_in(second, tenant, "reset"), "password": PASSWORD},
    )
    assert chosen.status == 200
    late = await login(client, tenant, email, strangers, guest_user_id="planted")
    assert (late.status, await late.json()) == (401, BAD_CREDENTIALS)
    assert (await login(client, tenant, email)).status == 200
    owned = await pool.fetch("SELECT id, user_id FROM dialog WHERE tenant_id = $1", tenant.id)
    assert [tuple(row) for row in owned] == [(planted, "planted")]  # the account holds nothing


async def test_a_single_registration_is_confirmed_with_its_own_password(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant(locale="en")
    await post(client, tenant, "register", {"email": "vic@example.com", "password": PASSWORD})
    await post(client, tenant, "resend-confirmation", {"email": "vic@example.com"})
    registered, resent = await smtp_server.wait_for(2)
    assert registered.subject == resent.subject == f"Confirm your email for {tenant.name}"
    token = token_in(resent, tenant, "confirm")
    assert (await client.get(url(tenant, "confirm"), params={"token": token})).status == 200
    assert (await login(client, tenant, "vic@example.com")).status == 200


async def test_a_confirmation_link_never_confirms_an_account_without_a_password(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any
) -> None:
    tenant = await new_tenant()
    for password in (PASSWORD, "other password"):
        await post(client, tenant, "register", {"email": "xan@example.com", "password": password})
    await smtp_server.wait_for(2)
    # a confirmation link a resend created just as the second registration unset the password
    account_id = await pool.fetchval("SELECT id FROM account WHERE tenant_id = $1", tenant.id)
    await credentials.create_token(
        pool,
        tenant_id=tenant.id,
        account_id=account_id,
        purpose="confirm_email",
        token="raced-link",
        lifetime_seconds=60,
    )
    raced = await client.get(url(tenant, "confirm"), params={"token": "raced-link"})
    assert (raced.status, (await raced.json())["code"]) == (400, "invalid_confirmation_token")
    assert await pool.fetchrow(
        "SELECT password_hash, email_confirmed_at FROM account WHERE id = $1", account_id
    ) == (None, None)


async def test_resend_after_a_second_registration_asks_for_a_password(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant()
    for password in (PASSWORD, "other password"):
        await post(client, tenant, "register", {"email": "wes@example.com", "password": password})
    await post(client, tenant, "resend-confirmation", {"email": "wes@example.com"})
    *_, resent = await smtp_server.wait_for(3)
    assert resent.subject == f"Подтвердите email и задайте пароль для {tenant.name}"
    reset = {"token": token_in(resent, tenant, "reset"), "password": "my own password"}
    assert (await post(client, tenant, "password/reset", reset)).status == 200
    assert (await login(client, tenant, "wes@example.com", "my own password")).status == 200


async def test_every_password_character_counts(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant()
    prefix = "ж" * 36  # 72 bytes of UTF-8: all that bcrypt itself would read
    await register_and_confirm(client, smtp_server, tenant, "fay@example.com", prefix + "1")
    assert (await login(client, tenant, "fay@example.com", prefix + "2")).status == 401
    assert (await login(client, tenant, "fay@example.com", prefix + "1")).status == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a" * 245 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": "ok@example.com", "password": "7 chars"}, "password"),
        ({"email": "ok@example.com", "password": "x" * 129}, "password"),
        ({"password": PASSWORD}, "email"),
    ],
)
async def test_register_validation(
    client: Client, new_tenant: Any, body: dict[str, Any], field: str
) -> None:
    tenant = await new_tenant()
    response = await post(client, tenant, "register", body)
    assert response.status == 400
    payload = await response.json()
    assert payload["code"] == "validation_error"
    assert [error["loc"] for error in payload["errors"]] == [[field]]


async def test_register_on_unknown_or_malformed_tenant(client: Client) -> None:
    body = {"email": "ok@example.com", "password": PASSWORD}
    unknown = await client.post(
        "/api/v1/tenants/00000000-0000-0000-0000-000000000000/register", json=body
    )
    assert unknown.status == 404
    malformed = await client.post("/api/v1/tenants/nope/register", json=body)
    assert malformed.status == 400


async def test_forgot_and_reset_revoke_earlier_tokens(
    client: Client, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    tenant = await new_tenant(locale="en")
    await register_and_confirm(client, smtp_server, tenant, "gus@example.com")
    old_token = (await (await login(client, tenant, "gus@example.com")).json())["access_token"]
    assert (await who(client, tenant, old_token)).status == 200

    accepted = {
        "message": "If an account uses this address, a link to reset the password is on its way."
    }
    unknown = await post(client, tenant, "password/forgot", {"email": "nobody@example.com"})
    known = await post(client, tenant, "password/forgot", {"email": "gus@example.com"})
    assert (
        (unknown.status, await unknown.json())
        == (known.status, await known.json())
        == (202, accepted)
    )
    mail = (await smtp_server.wait_for(2))[1]  # mails go out in order: none for the unknown one
    assert len(smtp_server.received) == 2 and mail.envelope_to == ["gus@example.com"]
    assert mail.subject == f"Reset your password at {tenant.name}"
    reset_token = token_in(mail, tenant, "reset")

    response = await post(
        client, tenant, "password/reset", {"token": reset_token, "password": "brand new pass"}
    )
    assert response.status == 200
    assert await response.json() == {
        "message": "Your password has been changed. Please log in with the new password."
    }
    rejected = await who(client, tenant, old_token)
    assert (rejected.status, await rejected.json()) == (401, BAD_TOKEN)
    assert (await login(client, tenant, "gus@example.com")).status == 401
    fresh = await login(client, tenant, "gus@example.com", "brand new pass")
    assert fresh.status == 200
    assert (await who(client, tenant, (await fresh.json())["access_token"])).status == 200

    reused = await post(
        client, tenant, "password/reset", {"token": reset_token, "password": "third password"}
    )
    assert reused.status == 400 and (await reused.json())["code"] == "invalid_reset_token"


async def test_reset_token_expires_and_reset_confirms_the_email(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any
) -> None:
    tenant = await new_tenant()
    await post(client, tenant, "register", {"email": "hal@example.com", "password": PASSWORD})
    await post(client, tenant, "password/forgot", {"email": "hal@example.com"})
    await post(client, tenant, "password/forgot", {"email": "hal@example.com"})
    _, first, second = await smtp_server.wait_for(3)
    await pool.execute(
        "UPDATE account_token SET expires_at = now() - interval '1 second' "
        "WHERE tenant_id = $1 AND token_hash = sha256(convert_to($2, 'UTF8'))",
        tenant.id,
        token_in(first, tenant, "reset"),
    )
    expired = await post(
        client,
        tenant,
        "password/reset",
        {"token": token_in(first, tenant, "reset"), "password": "new password"},
    )
    assert expired.status == 400
    assert (
        await post(
            client,
            tenant,
            "password/reset",
            {"token": token_in(second, tenant, "reset"), "password": "new password"},
        )
    ).status == 200
    assert (await login(client, tenant, "hal@example.com", "new password")).status == 200


async def test_login_moves_the_guest_data_to_the_account(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any
) -> None:
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "ivy@example.com")
    account_id = str(await pool.fetchval("SELECT id FROM account WHERE tenant_id = $1", tenant.id))
    guest, stranger = "guest-7f3a", "someone-else"
    dialogs = [
        await pool.fetchval(
            "INSERT INTO dialog (tenant_id, user_id, title) VALUES ($1, $2, $3) RETURNING id",
            tenant.id,
            user,
            title,
        )
        for user, title in [(guest, "one"), (guest, "two"), (stranger, "x")]
    ]
    message = await pool.fetchval(
        "INSERT INTO message (tenant_id, dialog_id, role, content) VALUES ($1, $2, 'user', 'hi') "
        "RETURNING id",
        tenant.id,
        dialogs[0],
    )
    await pool.executemany(
        "INSERT INTO saved_item (tenant_id, user_id, type, reference_id, message_id, note) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (tenant.id, guest, "message", str(message), message, None),
            (tenant.id, guest, "content", "page-1", None, "guest note"),
            (tenant.id, account_id, "content", "page-1", None, "account note"),
        ],
    )
    await pool.executemany(
        "INSERT INTO user_profile (tenant_id, user_id, display_name, contact)"
        " VALUES ($1, $2, $3, $4)",
        [(tenant.id, guest, "Guest Name", "+1 555"), (tenant.id, account_id, "Ivy", None)],
    )
    answer = await pool.fetchval(
        "INSERT INTO message (tenant_id, dialog_id, role, content) "
        "VALUES ($1, $2, 'assistant', 'hello') RETURNING id",
        tenant.id,
        dialogs[0],
    )
    await pool.execute(
        "INSERT INTO message_feedback (tenant_id, message_id, user_id, rating) "
        "VALUES ($1, $2, $3, 'up')",
        tenant.id,
        answer,
        guest,
    )

    response = await login(client, tenant, "ivy@example.com", guest_user_id=guest)
    assert response.status == 200

    owners = await pool.fetch("SELECT id, user_id FROM dialog WHERE tenant_id = $1", tenant.id)
    assert {row["id"]: row["user_id"] for row in owners} == {
        dialogs[0]: account_id,
        dialogs[1]: account_id,
        dialogs[2]: stranger,
    }
    saved = await pool.fetch(
        "SELECT user_id, type, reference_id, note FROM saved_item "
        "WHERE tenant_id = $1 ORDER BY type",
        tenant.id,
    )
    assert [tuple(row) for row in saved] == [
        (account_id, "content", "page-1", "account note"),
        (account_id, "message", str(message), None),
    ]
    profiles = await pool.fetch(
        "SELECT user_id, display_name, contact FROM user_profile WHERE tenant_id = $1", tenant.id
    )
    assert [tuple(row) for row in profiles] == [(account_id, "Ivy", "+1 555")]
    ratings = await pool.fetch(
        "SELECT message_id, user_id, rating FROM message_feedback WHERE tenant_id = $1", tenant.id
    )
    assert [tuple(row) for row in ratings] == [(answer, account_id, "up")]


async def test_guest_user_id_must_be_a_guest_id(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, pool: Any
) -> None:
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "jay@example.com")
    await register_and_confirm(client, smtp_server, tenant, "kim@example.com")
    kim = str(
        await pool.fetchval(
            "SELECT id FROM account WHERE tenant_id = $1 AND email = 'kim@example.com'", tenant.id
        )
    )
    await pool.execute("INSERT INTO dialog (tenant_id, user_id) VALUES ($1, $2)", tenant.id, kim)
    taken = await login(client, tenant, "jay@example.com", guest_user_id=kim)
    assert taken.status == 400
    assert await taken.json() == {
        "detail": "guest_user_id must be a guest id, not an account id.",
        "code": "invalid_guest_user_id",
    }
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM dialog WHERE tenant_id = $1 AND user_id = $2", tenant.id, kim
        )
        == 1
    )
    for malformed in ("no spaces/allowed", "guest-1\n", "", "x" * 65):
        refused = await login(client, tenant, "jay@example.com", guest_user_id=malformed)
        assert refused.status == 400


async def test_smtp_outage_keeps_the_account_and_resend_delivers(
    make_client: ClientFactory,
    make_smtp_server: Callable[[int], SmtpServer],
    new_tenant: Any,
    pool: Any,
    caplog: Any,
) -> None:
    port = free_port()  # nothing listens there yet
    client = await make_client(smtp={"port": port, "retries": 0})
    tenant = await new_tenant()
    with caplog.at_level(logging.ERROR, logger="cip.accounts.mailer"):
        response = await post(
            client, tenant, "register", {"email": "lee@example.com", "password": PASSWORD}
        )
        assert response.status == 202 and await response.json() == REGISTERED
        assert (
            await pool.fetchval("SELECT email FROM account WHERE tenant_id = $1", tenant.id)
            == "lee@example.com"
        )
        async with asyncio.timeout(10):
            while "not sent" not in caplog.text:
                await asyncio.sleep(0.01)
    server = make_smtp_server(port)
    resent = await post(client, tenant, "resend-confirmation", {"email": "lee@example.com"})
    assert resent.status == 202
    assert await resent.json() == {
        "message": "If an unconfirmed account uses this address, "
        "a new confirmation link is on its way."
    }
    [mail] = await server.wait_for(1)
    token = token_in(mail, tenant, "confirm")
    assert (await client.get(url(tenant, "confirm"), params={"token": token})).status == 200
    assert (await login(client, tenant, "lee@example.com")).status == 200
    # confirmed: resend (and resend for unknown addresses) sends nothing, same answer
    for email in ("lee@example.com", "nobody@example.com"):
        again = await post(client, tenant, "resend-confirmation", {"email": email})
        assert again.status == 202 and await again.json() == await resent.json()
    await post(client, tenant, "password/forgot", {"email": "lee@example.com"})
    assert [m.subject for m in await server.wait_for(2)][1].startswith("Сброс пароля")


async def test_temporary_smtp_failures_are_retried(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    client = await make_client(smtp={"retries": 3})
    smtp_server.refuse_next(2)
    tenant = await new_tenant()
    await post(client, tenant, "register", {"email": "max@example.com", "password": PASSWORD})
    [mail] = await smtp_server.wait_for(1)
    assert smtp_server.attempts == 3
    assert mail.envelope_to == ["max@example.com"]


async def test_without_smtp_host_the_mail_is_logged(
    make_client: ClientFactory, new_tenant: Any, caplog: Any
) -> None:
    client = await make_client(smtp={"host": ""})
    tenant = await new_tenant(locale="en")
    with caplog.at_level(logging.INFO, logger="cip.accounts.mailer"):
        await post(client, tenant, "register", {"email": "ned@example.com", "password": PASSWORD})
        async with asyncio.timeout(10):
            while f"{BASE_URL}/{tenant.slug}/confirm?token=" not in caplog.text:
                await asyncio.sleep(0.01)
    assert "To: ned@example.com" in caplog.text
    assert PASSWORD not in caplog.text


async def test_failed_logins_are_throttled_per_email(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    client = await make_client(
        auth={"login_failures_per_email": 3, "login_failure_window_seconds": 600}
    )
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "oda@example.com")
    for _ in range(3):
        assert (await login(client, tenant, "oda@example.com", "wrong password")).status == 401
    blocked = await login(client, tenant, "oda@example.com")  # even the right password waits
    assert blocked.status == 429
    assert blocked.headers["Retry-After"] == "599"  # the window ends 599 s after the clock
    assert await blocked.json() == {
        "detail": "Too many failed logins. Please wait and try again.",
        "code": "rate_limited",
    }
    # an unknown address is throttled the same way
    for _ in range(3):
        assert (await login(client, tenant, "ghost@example.com")).status == 401
    assert (await login(client, tenant, "ghost@example.com")).status == 429


async def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    client = await make_client(auth={"login_failures_per_email": 3, "bcrypt_cost": 8})
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "pia@example.com")
    guesses = await asyncio.gather(
        *(login(client, tenant, "pia@example.com", f"guess-{n:04d}") for n in range(12))
    )
    assert sorted(r.status for r in guesses) == [401] * 3 + [429] * 9


async def test_successful_logins_do_not_use_up_the_limit(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    client = await make_client(auth={"login_failures_per_email": 2})
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "ruth@example.com")
    for _ in range(5):
        assert (await login(client, tenant, "ruth@example.com")).status == 200
    assert (await login(client, tenant, "ruth@example.com", "wrong password")).status == 401


async def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, elsewhere: Elsewhere
) -> None:
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "olga@example.com")
    attacker = elsewhere("127.0.0.2")
    for _ in range(10):  # the default limit for one address from one client address
        wrong = await login(client, tenant, "olga@example.com", "a guess", via=attacker)
        assert wrong.status == 401
    blocked = await login(client, tenant, "olga@example.com", via=attacker)
    assert blocked.status == 429  # from there even the right password waits
    assert (await login(client, tenant, "olga@example.com")).status == 200  # the owner, here


async def test_locking_an_address_out_takes_many_client_addresses(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any, elsewhere: Elsewhere
) -> None:
    client = await make_client(
        auth={"login_failures_per_email_and_ip": 2, "login_failures_per_email": 4}
    )
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "pam@example.com")

    async def guess(address: str) -> int:
        response = await login(client, tenant, "pam@example.com", "a guess", via=elsewhere(address))
        return int(response.status)

    assert [await guess("127.0.0.2") for _ in range(12)] == [401] * 2 + [429] * 10
    # attempts refused there count nowhere else: the owner is in, and the address's own
    # limit (4) has seen only the two that were tried
    assert (await login(client, tenant, "pam@example.com")).status == 200
    assert [await guess("127.0.0.3") for _ in range(2)] == [401, 401]
    # guesses spread over many client addresses do reach the address's limit
    assert await guess("127.0.0.4") == 429
    assert (await login(client, tenant, "pam@example.com")).status == 429


async def test_forgot_requests_from_elsewhere_leave_the_owner_a_reset_mail(
    client: Client, smtp_server: SmtpServer, new_tenant: Any, elsewhere: Elsewhere
) -> None:
    tenant = await new_tenant(locale="en")
    await register_and_confirm(client, smtp_server, tenant, "rae@example.com")
    attacker = elsewhere("127.0.0.2")
    forgot = {"email": "rae@example.com"}
    for _ in range(6):
        assert (await post(client, tenant, "password/forgot", forgot, via=attacker)).status == 202
    assert (await post(client, tenant, "password/forgot", forgot)).status == 202  # the owner
    await client.app[keys.MAILER].idle()
    # 5 (the default per address and client address) of the attacker's 6, and the owner's
    assert [mail.subject for mail in smtp_server.received] == [
        f"Confirm your email for {tenant.name}"
    ] + [f"Reset your password at {tenant.name}"] * 6
    assert token_in(smtp_server.received[-1], tenant, "reset")

    # Past its own limit a client address counts nowhere else; many together reach the
    # address's limit (no inbox gets flooded).
    limits = {"email_per_address_and_ip_per_hour": 1, "email_per_address_per_hour": 3}
    small = await new_tenant(locale="en", limits=limits)
    await register_and_confirm(client, smtp_server, small, "rae@example.com")  # 1 of 3
    for address in ("127.0.0.3", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        await post(client, small, "password/forgot", forgot, via=elsewhere(address))
    await client.app[keys.MAILER].idle()
    assert [mail.subject for mail in smtp_server.received[7:]] == [
        f"Confirm your email for {small.name}"
    ] + [f"Reset your password at {small.name}"] * 2


async def test_password_reset_is_limited_per_address_and_checks_the_token_first(
    make_client: ClientFactory, new_tenant: Any
) -> None:
    client = await make_client(limits={"register_per_ip_per_hour": 2})
    tenant = await new_tenant()
    for _ in range(2):
        guessed = await post(
            client, tenant, "password/reset", {"token": "guessed-token-value", "password": PASSWORD}
        )
        assert (guessed.status, (await guessed.json())["code"]) == (400, "invalid_reset_token")
    blocked = await post(
        client, tenant, "password/reset", {"token": "guessed-token-value", "password": PASSWORD}
    )
    assert blocked.status == 429 and "Retry-After" in blocked.headers


async def test_failed_logins_are_throttled_per_ip(
    make_client: ClientFactory, new_tenant: Any
) -> None:
    client = await make_client(auth={"login_failures_per_ip": 4})
    tenant = await new_tenant()
    for n in range(4):
        assert (await login(client, tenant, f"user{n}@example.com")).status == 401
    blocked = await login(client, tenant, "fresh@example.com")
    assert blocked.status == 429 and "Retry-After" in blocked.headers


async def test_register_resend_and_forgot_are_limited(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    client = await make_client(
        limits={"register_per_ip_per_hour": 3, "email_per_address_per_hour": 2}
    )
    tenant = await new_tenant()
    for n in range(3):
        assert (
            await post(
                client, tenant, "register", {"email": f"p{n}@example.com", "password": PASSWORD}
            )
        ).status == 202
    blocked = await post(
        client, tenant, "register", {"email": "p9@example.com", "password": PASSWORD}
    )
    assert blocked.status == 429 and "Retry-After" in blocked.headers
    assert (await blocked.json())["code"] == "rate_limited"
    # per address: past the limit the answer stays 202, but no more mail goes out
    for _ in range(3):
        assert (
            await post(client, tenant, "resend-confirmation", {"email": "p0@example.com"})
        ).status == 202
    assert (
        await post(client, tenant, "resend-confirmation", {"email": "p1@example.com"})
    ).status == 429
    await smtp_server.wait_for(4)
    await client.app[keys.MAILER].idle()  # every mail queued so far is delivered: no more come
    assert sorted(m.envelope_to[0] for m in smtp_server.received) == [
        "p0@example.com",
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]
    other = await new_tenant()  # limits are per tenant
    assert (await post(client, other, "password/forgot", {"email": "p0@example.com"})).status == 202


async def test_bcrypt_does_not_block_the_event_loop(
    make_client: ClientFactory, smtp_server: SmtpServer, new_tenant: Any
) -> None:
    cost = 12
    # Attempts in flight count against the per-address limits: this storm stays under them.
    client = await make_client(
        auth={
            "bcrypt_cost": cost,
            "login_failures_per_email_and_ip": 50,
            "login_failures_per_email": 50,
            "login_failures_per_ip": 50,
        }
    )
    tenant = await new_tenant()
    await register_and_confirm(client, smtp_server, tenant, "quinn@example.com")

    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    responses = await asyncio.gather(
        *(login(client, tenant, "quinn@example.com") for _ in range(20))
    )
    done.set()
    await ticking
    assert [r.status for r in responses] == [200] * 20
    # one hash's time on this machine, under the load it has now
    started = time.perf_counter()
    stored = passwords.hash_sync(PASSWORD, cost)
    passwords.verify_sync(PASSWORD, stored)
    one_hash = (time.perf_counter() - started) / 2
    # 20 logins spent 20 hashes of bcrypt time. On the loop, every one of them would stall it
    # for a whole hash (20 long pauses); off the loop it keeps ticking, and a long pause is at
    # most an occasional hiccup of a busy machine.
    long_pauses = [stall for stall in stalls if stall >= 0.8 * one_hash]
    assert len(stalls) > 20
    assert len(long_pauses) < 10, (long_pauses, one_hash)
