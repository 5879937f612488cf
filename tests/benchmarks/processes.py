"""The processes a benchmark run needs: a fresh database on the local PostgreSQL, the fake
DeepSeek, and `python -m cip serve` with a generated config file. Each runs apart from the
load generator (no shared event loop) and is ended by its pid when the run is over.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "CIP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BCRYPT_COST = 12  # the production default: logins cost what they cost in production
GENEROUS = 10_000_000  # request-rate limits the benchmarks must never reach


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database on the local server, dropped (with its connections) afterwards."""
    name = f"cip_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    folder: Path,
    *,
    port: int,
    database_url: str,
    llm_url: str,
    pool_max_size: int,
    flush_interval: float | None = None,
) -> Path:
    """A config for the app under test: generous rate limits, a pool sized for the load;
    `flush_interval` sets `[streams] flush_interval` (default: the service's)."""
    sections: dict[str, dict[str, Any]] = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "state_dir": str(folder / "var"),
            "shutdown_timeout": 2.0,
        },
        "database": {
            "url": database_url,
            "pool_min_size": pool_max_size,
            "pool_max_size": pool_max_size,
            "auto_migrate": True,
        },
        "llm": {"api_url": llm_url, "api_key": "bench-key"},
        "prompts": {
            "default_file": str(ROOT / "prompts/system_prompt.txt"),
            "directory": str(ROOT / "prompts"),
        },
        "auth": {
            "jwt_secret": secrets.token_urlsafe(48),
            "bcrypt_cost": BCRYPT_COST,
            "login_failures_per_email_and_ip": GENEROUS,
            "login_failures_per_email": GENEROUS,
            "login_failures_per_ip": GENEROUS,
        },
        "limits": {
            "chat_per_user_per_minute": GENEROUS,
            "chat_per_ip_per_minute": GENEROUS,
            "register_per_ip_per_hour": GENEROUS,
            "email_per_address_and_ip_per_hour": GENEROUS,
            "email_per_address_per_hour": GENEROUS,
            "cabinet_reads_per_user_per_minute": GENEROUS,
            "cabinet_reads_per_ip_per_minute": GENEROUS,
            "cabinet_writes_per_user_per_minute": GENEROUS,
            "cabinet_writes_per_ip_per_minute": GENEROUS,
        },
    }
    # A chat closed after its first token is the benchmarks' stop button: its answer ends as
    # soon as the watcher sees nobody follows it, instead of after the usual grace.
    sections["streams"] = {"grace": 0}
    if flush_interval is not None:
        sections["streams"]["flush_interval"] = flush_interval
    path = folder / "config.toml"
    path.write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())
            for section, values in sections.items()
        )
    )
    return path


def new_folder(path: Path) -> Path:
    path.mkdir()
    return path


def config_in(folder: Path, name: str, **options: Any) -> tuple[Path, Path, int]:
    """A further app's folder `folder/name`, its config (`write_config` with `options` and a
    free port) and that port."""
    sub = folder / name
    sub.mkdir()
    port = free_port()
    return sub, write_config(sub, port=port, **options), port


class Process:
    """A child process whose output goes to a log file; stopped by SIGTERM to its pid."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def rss_bytes(self) -> int:
        """Resident set size now (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def wait_for_port(process: Process, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on {port} within {timeout:.0f}s")


@contextmanager
def running(name: str, args: list[str], port: int, folder: Path) -> Iterator[Process]:
    process = Process(name, args, folder / f"{name}.log")
    try:
        wait_for_port(process, port)
        yield process
    finally:
        process.stop()


def fake_deepseek(port: int, folder: Path) -> Any:
    return running(
        "fake-deepseek",
        [sys.executable, str(ROOT / "tests/benchmarks/fake_deepseek.py"), str(port)],
        port,
        folder,
    )


def cip_server(config_path: Path, port: int, folder: Path) -> Any:
    return running(
        "cip", [sys.executable, "-m", "cip", "--config", str(config_path), "serve"], port, folder
    )
