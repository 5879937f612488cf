"""Reading the chat's Server-Sent Events in tests: the whole stream as (event, data) pairs."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(raw: str) -> list[tuple[str, Any]]:
    """The stream as (event, data) pairs in order; a `: ping` comment is ("ping", None)."""
    events: list[tuple[str, Any]] = []
    for block in raw.split("\n\n"):
        if not block:
            continue
        if block == ": ping":
            events.append(("ping", None))
            continue
        name, data = "message", None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data = value if value == "[DONE]" else json.loads(value)
        events.append((name, data))
    return events


def texts_with_ids(raw: str) -> list[tuple[int, str]]:
    """The answer's text events as (id, content) pairs, in order."""
    found: list[tuple[int, str]] = []
    for block in raw.split("\n\n"):
        fields = dict(line.partition(": ")[::2] for line in block.split("\n") if line)
        if "id" in fields and "event" not in fields:
            found.append((int(fields["id"]), json.loads(fields["data"])["content"]))
    return found


def without_pings(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [event for event in events if event[0] != "ping"]


async def read_until(content: Any, marker: bytes) -> bytes:
    """Read a streaming body (an aiohttp `StreamReader`) until `marker` has arrived."""
    received = b""
    while marker not in received:
        piece = await content.readany()
        if not piece:
            raise AssertionError(f"stream ended before {marker!r}: {received!r}")
        received += piece
    return received
