"""The fake DeepSeek as a process of its own, playing the benchmark schedule: the first token
200 ms after the request, then 100 deltas 20 ms apart.

`python tests/benchmarks/fake_deepseek.py PORT` serves until SIGTERM. Both sides of every
comparison (CIP, and the load generator asking the fake directly) talk to this one process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.fake_llm import FakeLlm, Script

FIRST_TOKEN_DELAY = 0.2
DELTAS = 100
GAP = 0.02
SCHEDULE = Script(
    deltas=[f"token{index} " for index in range(DELTAS)],
    first_token_delay=FIRST_TOKEN_DELAY,
    gap=GAP,
)


async def serve(port: int) -> None:
    fake = FakeLlm(record=False)
    fake.script = SCHEDULE
    await fake.start(port=port, backlog=4096)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await fake.stop()


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: the fake should be the quickest process in the comparison."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(serve(int(sys.argv[1])))
