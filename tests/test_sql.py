"""The named-statement loader."""

from __future__ import annotations

import pytest

from cip.sql import SQL_DIR, parse, queries


def test_blocks_become_named_statements() -> None:
    statements = parse("-- name: one\nSELECT 1;\n\n-- name: two\n-- a comment\nSELECT 2;\n")
    assert statements.one == "SELECT 1"
    assert statements.two == "-- a comment\nSELECT 2"


@pytest.mark.parametrize("name", ["get", "update", "items", "keys", "values", "copy", "pop"])
def test_a_name_that_shadows_a_mapping_method_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        parse(f"-- name: {name}\nSELECT 1;\n")


def test_every_sql_file_loads() -> None:
    for path in SQL_DIR.glob("*.sql"):
        assert queries(path.stem), path
