"""Request bodies that arrive slowly: how many one client address may have arriving at once."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from cip import errors, metrics

SLOW_BODIES_RULE = "slow-bodies"  # its refusals' rule in `cip_rate_limit_refusals`


class SlowBodies:
    """Request bodies still arriving, per client address: a body trickled in holds its
    connection (a file descriptor) while it lasts, so one address may trickle only so many."""

    def __init__(self, per_client: int) -> None:
        self._per_client = per_client
        self._arriving: Counter[str] = Counter()

    def __len__(self) -> int:
        """Bodies arriving now, from every address."""
        return sum(self._arriving.values())

    @contextlib.contextmanager
    def arriving(self, client: str) -> Iterator[None]:
        """One more body arriving from `client`; 429 past the cap."""
        if self._arriving[client] >= self._per_client:
            metrics.RATE_LIMITED.labels(SLOW_BODIES_RULE).inc()
            raise errors.RateLimited(1, errors.SLOW_BODIES)
        self._arriving[client] += 1
        try:
            yield
        finally:
            self._arriving[client] -= 1
            if not self._arriving[client]:
                del self._arriving[client]
