"""Password hashing: bcrypt over a SHA-256 pre-hash, run in worker threads.

bcrypt reads only the first 72 bytes of its input, so the password is first reduced to the
base64 of its SHA-256 digest (44 bytes, no NUL): every character of a 128-character password
counts. bcrypt runs in a dedicated thread pool (it releases the GIL), so a login storm queues
there and never stalls the event loop or the default executor that DNS lookups use.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import bcrypt


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_sync(password: str, cost: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(cost)).decode("ascii")


def verify_sync(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:  # not a bcrypt hash
        return False


class PasswordHasher:
    """Hashes and checks passwords off the event loop, at the configured bcrypt cost, in its
    own threads (one per core). `async with PasswordHasher.running(cost)` owns them."""

    def __init__(self, cost: int, executor: ThreadPoolExecutor) -> None:
        self.cost = cost
        self._executor = executor
        # Checked against when the email is unknown, so that answer takes as long as a real check.
        self._dummy_hash = hash_sync(secrets.token_urlsafe(16), cost)

    @classmethod
    @asynccontextmanager
    async def running(cls, cost: int) -> AsyncIterator[PasswordHasher]:
        executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="bcrypt")
        try:
            # The dummy hash costs a whole hash: made in the pool, not on the event loop.
            yield await asyncio.get_running_loop().run_in_executor(executor, cls, cost, executor)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def hash(self, password: str) -> str:
        result: str = await self._run(hash_sync, password, self.cost)
        return result

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches; with no hash (unknown account) the same work, and False."""
        matches: bool = await self._run(verify_sync, password, password_hash or self._dummy_hash)
        return matches and password_hash is not None
