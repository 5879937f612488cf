"""Request bodies trickled in hold a connection each: they get `[server] body_timeout` to
arrive (408, connection closed) and one address may have `slow_bodies_per_client` arriving at
once (429, connection closed); whole bodies and requests without one are not counted."""

from __future__ import annotations

import asyncio
import contextlib
import json

from cip import keys
from support.fixtures import Client, NewTenant, StartClient

GUARD = 10  # seconds, against hangs only


class RawClient:
    """One connection that sends what the test says, byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def start(self, method: str, path: str, body: bytes, sent: int) -> None:
        """Headers announcing `body`, then only its first `sent` bytes."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User-Id: slow\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body[:sent])
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, object]]:
        """The status and JSON body of the response."""
        status_line = await self.reader.readline()
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), json.loads(body)

    async def closed(self) -> bool:
        """Whether the server closed the connection (waits for it to say either way)."""
        return await self.reader.read(1) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()  # closed before the test's loop is


async def arriving(client: Client, count: int) -> None:
    """Until the server holds `count` bodies still arriving."""
    while len(client.app[keys.SLOW_BODIES]) != count:
        await asyncio.sleep(0.01)


def profile_path(tenant_id: object) -> str:
    return f"/api/v1/tenants/{tenant_id}/me/profile"


async def test_a_body_that_does_not_arrive_in_time_is_408_and_closed(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    client = await start_client(server={"body_timeout": 0.5})
    tenant = await new_tenant()
    body = json.dumps({"user_id": "g1", "message": "Hello there"}).encode()
    raw = await RawClient.connect(client.server.port or 0)
    try:
        async with asyncio.timeout(GUARD):
            await raw.start("POST", f"/api/v1/tenants/{tenant.id}/chat", body, sent=5)
            status, answer = await raw.answer()
            closed = await raw.closed()
    finally:
        await raw.close()
    assert (status, answer, closed) == (
        408,
        {"detail": "The request body did not arrive in time.", "code": "body_timeout"},
        True,
    )


async def test_one_address_may_trickle_only_so_many_bodies(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    client = await start_client(server={"body_timeout": 60, "slow_bodies_per_client": 2})
    tenant = await new_tenant()
    path = profile_path(tenant.id)
    body = json.dumps({"display_name": "Slow but sure"}).encode()
    port = client.server.port or 0
    slow = [await RawClient.connect(port) for _ in range(2)]
    extra = await RawClient.connect(port)
    try:
        async with asyncio.timeout(GUARD):
            for raw in slow:
                await raw.start("PATCH", path, body, sent=5)
            await arriving(client, 2)
            await extra.start("PATCH", path, body, sent=5)
            status, answer = await extra.answer()
            closed = await extra.closed()
            assert (status, answer["code"], closed) == (429, "rate_limited", True)
            # A whole body from the same address is not held up.
            profile = await client.patch(
                profile_path(tenant.id),
                headers={"X-User-Id": "g2"},
                json={"display_name": "Whole"},
            )
            assert profile.status == 200
            # Once a slow body arrives, its place is free again.
            slow[0].writer.write(body[5:])
            await slow[0].writer.drain()
            status, profile_body = await slow[0].answer()
            assert (status, profile_body["display_name"]) == (200, "Slow but sure")
            again = await RawClient.connect(port)
            await again.start("PATCH", path, body, sent=5)
            await arriving(client, 2)  # the other slow one, and this one
            again.writer.write(body[5:])
            await again.writer.drain()
            status, _ = await again.answer()
            await again.close()
            assert status == 200
    finally:
        for raw in [*slow, extra]:
            await raw.close()
