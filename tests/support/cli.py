"""`python -m cip ...` as a child process against a test database, as an operator runs it: with
`DATABASE_URL` and the config file of the test's folder (a default one is written when there
is none). `measured` also reports the command's peak memory (`peak_rss.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = "[tenants.cli-configured]\nname = 'From config'\nlocale = 'en'\n"
GUARD_SECONDS = 600  # against hangs only
PEAK_RSS = str(Path(__file__).with_name("peak_rss.py"))


def _environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text(DEFAULT_CONFIG)
    return {**os.environ, "DATABASE_URL": database_url, "CIP_CONFIG": str(config)}


def cip(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cip", *args],
        env=_environment(database_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: Path  # where its standard output went
    stderr: str
    peak_rss_kib: int  # the child's own maximum resident set size


def measured(*args: str, database_url: str, tmp_path: Path, name: str) -> Measured:
    """Run `cip` with its output in files named after `name`, under `peak_rss.py`; its exit
    code, stderr and peak RSS."""
    stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    report = tmp_path / f"{name}.rss"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        done = subprocess.run(
            [sys.executable, PEAK_RSS, str(report), sys.executable, "-m", "cip", *args],
            env=_environment(database_url, tmp_path),
            stdout=out,
            stderr=err,
            timeout=GUARD_SECONDS,
        )
    return Measured(done.returncode, stdout, stderr.read_text(), int(report.read_text()))
