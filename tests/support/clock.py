"""A rate-limit clock the tests set, so that no test waits for a window to turn."""

from __future__ import annotations

import time

from cip.limits import HOUR, Clock


class ManualClock(Clock):
    """Stands still until moved. It starts one second into the current hour, where every
    window the service uses (a minute, a quarter, an hour) begins, so a test's hits all fall
    in one window; `advance` moves into the next."""

    def __init__(self) -> None:
        self.at = time.time() // HOUR * HOUR + 1

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds
