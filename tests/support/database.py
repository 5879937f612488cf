"""A real PostgreSQL for the tests: the server named by `CIP_TEST_DATABASE_URL`, or an
embedded one in a temporary folder; each run creates its own databases on it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET = "9bfSXp7v9ey0zhdSBntFvRLiRHHsTB0_LzgXHvMQK2fXcEtt9TZZREPjvBXscExI"  # random


class DatabaseServer:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        base, _, query = self.admin_url.partition("?")
        server = base.rsplit("/", 1)[0]
        return f"{server}/{name}" + (f"?{query}" if query else "")

    def create_database(self, prefix: str = "cip_test") -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            for name in self.created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
