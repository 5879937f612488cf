"""Loads the named statements of `sql/*.sql`.

Each file holds blocks headed `-- name: <statement>`; `queries("tenants")` returns them as a
mapping from name to SQL text. The typed functions of the query layer (`cip/store/`) are the
only callers: handlers never see SQL.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Statements(dict[str, str]):
    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def parse(text: str) -> Statements:
    statements = Statements()
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None]):
        body = text[header.end(): following.start() if following else len(text)].strip()
        name = header.group("name")
        if name in statements:
            raise ValueError(f"duplicate statement name: {name}")
        if hasattr(Statements, name):
            # `Q.get` would be dict.get, not the statement.
            raise ValueError(f"statement name shadows a mapping method: {name}")
        if not body:
            raise ValueError(f"empty statement: {name}")
        statements[name] = body.rstrip(";")
    return statements


@cache
def queries(aggregate: str) -> Statements:
    return parse((SQL_DIR / f"{aggregate}.sql").read_text(encoding="utf-8"))
