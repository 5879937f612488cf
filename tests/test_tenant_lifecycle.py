"""A tenant switched off and on from the command line: while disabled its pages and API answer
410 (`tenant_disabled`) at once, in every process that caches it, and its data stays as it
was. And what the tenant and visitor commands say when they cannot do what they are asked."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cip import errors
from support.cabinet_data import CabinetData
from support.cli import cip
from support.fixtures import Client, NewTenant, StartClient

GUARD_SECONDS = 10  # against hangs only
SHOP = "https://shop.example"
DISABLED = {"detail": errors.TenantDisabled.detail, "code": "tenant_disabled"}


async def run_cip(
    *args: str, database_url: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cip, *args, database_url=database_url, tmp_path=tmp_path)


async def status_becomes(client: Client, path: str, status: int) -> Any:
    """Ask for `path` until it answers `status`; its response."""
    async with asyncio.timeout(GUARD_SECONDS):
        while True:
            response = await client.get(path)
            if response.status == status:
                return response
            await asyncio.sleep(0.02)


async def test_a_disabled_tenant_answers_410_at_once_and_keeps_its_data(
    start_client: StartClient,
    new_tenant: NewTenant,
    data: CabinetData,
    database_url: str,
    tmp_path: Path,
) -> None:
    # A cache kept for an hour: only the announcement can make the change visible.
    client = await start_client(server={"tenant_cache_seconds": 3600})
    tenant = await new_tenant(locale="en", allowed_origins=[SHOP])
    by_slug = f"/api/v1/tenants/by-slug/{tenant.slug}"
    api = f"/api/v1/tenants/{tenant.id}"
    visitor = {"X-User-Id": "guest-kept"}
    await data.dialog(tenant.id, "guest-kept", [("user", "Hello?"), ("assistant", "Hi!")])
    assert (await client.get(by_slug)).status == 200  # cached from now on
    before = {table: await data.rows(table, tenant.id) for table in ("dialog", "message")}

    disabled = await run_cip(
        "tenant", "disable", tenant.slug, database_url=database_url, tmp_path=tmp_path
    )
    assert (disabled.returncode, disabled.stdout) == (0, f"{tenant.id}\t{tenant.slug}\tdisabled\n")

    gone = await status_becomes(client, by_slug, 410)
    assert await gone.json() == DISABLED
    for method, path, body in [
        ("GET", f"{api}/me/dialogs", None),
        ("POST", f"{api}/chat", {"message": "Anyone there?", "user_id": "guest-kept"}),
        ("POST", f"{api}/login", {"email": "a@example.com", "password": "long enough"}),
        ("GET", f"{by_slug}/confirm?token=abc", None),
    ]:
        response = await client.request(method, path, json=body, headers=visitor)
        assert (response.status, await response.json()) == (410, DISABLED), path
    embedded = await client.get(by_slug, headers={"Origin": SHOP})
    assert embedded.status == 410
    assert embedded.headers["Access-Control-Allow-Origin"] == SHOP  # the site can read why

    for path in ("chat", "my/dialogs", "login", ""):
        page = await client.get(f"/{tenant.slug}/{path}")
        assert (page.status, page.content_type) == (410, "text/html"), path
        text = await page.text()
        assert "Chat switched off" in text and "Чат отключён" in text
        assert f"The chat and the personal cabinet of {tenant.name}" in text
        csp = page.headers["Content-Security-Policy"]
        assert f"frame-ancestors 'self' {SHOP}" in csp
    assert (await client.get(f"/no-such-{uuid.uuid4().hex[:8]}/chat")).status == 404

    after = {table: await data.rows(table, tenant.id) for table in ("dialog", "message")}
    assert after == before
    listed = await run_cip("tenant", "list", database_url=database_url, tmp_path=tmp_path)
    assert f"{tenant.id}\t{tenant.slug}\t{tenant.name}\ten\tdisabled\n" in listed.stdout

    enabled = await run_cip(
        "tenant", "enable", tenant.slug, database_url=database_url, tmp_path=tmp_path
    )
    assert (enabled.returncode, enabled.stdout) == (0, f"{tenant.id}\t{tenant.slug}\tenabled\n")
    await status_becomes(client, by_slug, 200)
    dialogs = await client.get(f"{api}/me/dialogs", headers=visitor)
    assert (await dialogs.json())["total"] == 1
    assert (await client.get(f"/{tenant.slug}/chat")).status == 200


async def test_disabling_twice_keeps_the_first_moment(
    new_tenant: NewTenant, data: CabinetData, database_url: str, tmp_path: Path
) -> None:
    tenant = await new_tenant()

    async def disable() -> Any:
        done = await run_cip(
            "tenant", "disable", tenant.slug, database_url=database_url, tmp_path=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return await data.pool.fetchval("SELECT disabled_at FROM tenant WHERE id = $1", tenant.id)

    first = await disable()
    assert first is not None
    assert await disable() == first


async def test_what_the_commands_refuse_is_one_line(
    new_tenant: NewTenant, database_url: str, tmp_path: Path
) -> None:
    tenant = await new_tenant()
    missing = f"gone-{uuid.uuid4().hex[:8]}"
    refusals: list[tuple[tuple[str, ...], str]] = [
        *[
            (
                (*command, missing),
                f"cip: no tenant with slug {missing!r} (`cip tenant list` lists them)\n",
            )
            for command in (("tenant", "disable"), ("tenant", "enable"), ("tenant", "export"))
        ],
        (
            ("tenant", "delete", missing, "--confirm"),
            f"cip: no tenant with slug {missing!r} (`cip tenant list` lists them)\n",
        ),
        (
            ("visitor", "export", "--tenant", missing, "--user", "guest-1"),
            f"cip: no tenant with slug {missing!r} (`cip tenant list` lists them)\n",
        ),
        (
            ("tenant", "delete", tenant.slug),
            "cip tenant delete: the following arguments are required: --confirm; "
            "see `cip tenant delete --help`\n",
        ),
        (
            ("tenant", "delete", "cli-configured", "--confirm"),
            "cip: tenant 'cli-configured' is declared in the config file "
            "([tenants.cli-configured]): remove that section first, or the next `cip serve` "
            "or `cip migrate` creates the tenant again\n",
        ),
        (
            ("visitor", "delete", "--tenant", tenant.slug, "--user", "not a guest id"),
            "cip visitor delete: argument --user: 1 to 64 letters, digits or '._:-'; "
            "see `cip visitor delete --help`\n",
        ),
        (
            ("tenant", "export", tenant.slug, "--output", str(tmp_path / "no-such-dir" / "x")),
            f"cip: cannot write {tmp_path / 'no-such-dir' / 'x'}: No such file or directory\n",
        ),
    ]
    for args, said in refusals:
        refused = await run_cip(*args, database_url=database_url, tmp_path=tmp_path)
        assert (refused.returncode, refused.stderr) == (2, said), args
    # Nothing was switched off or deleted on the way.
    again = await run_cip("tenant", "list", database_url=database_url, tmp_path=tmp_path)
    assert f"{tenant.id}\t{tenant.slug}\t{tenant.name}\tru\n" in again.stdout
