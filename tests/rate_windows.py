"""Timing help for tests of the fixed-window rate limits."""

from __future__ import annotations

import asyncio
import time


async def within_one_window(window: float = 60.0, needed: float = 15.0) -> None:
    """Fixed-window rate limits start afresh on the window's boundary. A test that counts hits
    waits, when fewer than `needed` seconds are left, for the next window, so that its hits
    all land in one window."""
    left = window - time.time() % window
    if left < needed:
        await asyncio.sleep(left + 0.1)
