"""The named statements of `sql/*.sql`, called with keyword arguments.

Each file holds blocks headed `-- name: <statement>`; parameters are written `:name` in the
SQL. At load, every `:name` becomes asyncpg's positional `$n` (one number per distinct name)
and the statement remembers the order, so a call is `Q.save.fetchrow(db, tenant_id=...)`: the
arguments are put in order by name, and a missing or unknown name is an error at once. Casts
(`::uuid`), string literals, quoted identifiers and comments are left as they are.

The typed functions of the query layer (`cip/db/store/`) are the only callers: handlers and
services never see SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.cursor import CursorFactory
from asyncpg.pool import PoolConnectionProxy

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# Anything that may run a statement: the pool, or a connection taken from it (or opened alone).
Executor: TypeAlias = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool

_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_TOKENS = re.compile(
    r"""
      '(?:[^']|'')*'                       # a string literal
    | "(?:[^"]|"")*"                       # a quoted identifier
    | --[^\n]*                             # a comment
    | ::                                   # a cast, never a parameter
    | :(?P<param>[A-Za-z_][A-Za-z0-9_]*)   # a parameter
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: its SQL with asyncpg's `$n`, and the parameter name of each `$n`."""

    name: str
    sql: str
    params: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The values in `$n` order. The names are distinct, so as many values as names,
        each found, is an exact match (and costs no set on every call)."""
        if len(values) == len(self.params):
            try:
                return [values[param] for param in self.params]
            except KeyError:
                pass
        missing = sorted(set(self.params) - values.keys())
        unknown = sorted(values.keys() - set(self.params))
        raise TypeError(f"{self.name}: missing {missing}, unknown {unknown}")

    async def fetch(self, db: Executor, **values: Any) -> list[asyncpg.Record]:
        return await db.fetch(self.sql, *self.args(values))

    async def fetchrow(self, db: Executor, **values: Any) -> asyncpg.Record | None:
        return await db.fetchrow(self.sql, *self.args(values))

    async def fetchval(self, db: Executor, **values: Any) -> Any:
        return await db.fetchval(self.sql, *self.args(values))

    async def execute(self, db: Executor, **values: Any) -> str:
        return await db.execute(self.sql, *self.args(values))

    def cursor(
        self, connection: asyncpg.Connection | PoolConnectionProxy, *, prefetch: int, **values: Any
    ) -> CursorFactory[asyncpg.Record]:
        """The rows as a server-side cursor, `prefetch` at a time (iterate it inside a
        transaction): memory holds one batch, whatever the number of rows."""
        return connection.cursor(self.sql, *self.args(values), prefetch=prefetch)


def compile_statement(name: str, text: str) -> Statement:
    """`:name` parameters to `$n`, numbered by first appearance."""
    params: list[str] = []

    def number(match: re.Match[str]) -> str:
        param = match.group("param")
        if param is None:
            return match.group(0)
        if param not in params:
            params.append(param)
        return f"${params.index(param) + 1}"

    return Statement(name, _TOKENS.sub(number, text), tuple(params))


class Statements(dict[str, Statement]):
    """The statements of one file, also reachable as attributes (`Q.start_turn`)."""

    def __getattr__(self, name: str) -> Statement:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def parse(text: str) -> Statements:
    statements = Statements()
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = text[header.end() : following.start() if following else len(text)].strip()
        name = header.group("name")
        if name in statements:
            raise ValueError(f"duplicate statement name: {name}")
        if hasattr(Statements, name):  # `Q.get` would be dict.get, not the statement
            raise ValueError(f"statement name shadows a mapping method: {name}")
        if not body:
            raise ValueError(f"empty statement: {name}")
        statements[name] = compile_statement(name, body.rstrip(";"))
    return statements


@cache
def queries(aggregate: str) -> Statements:
    return parse((SQL_DIR / f"{aggregate}.sql").read_text(encoding="utf-8"))
