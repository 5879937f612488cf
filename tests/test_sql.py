"""The named-statement loader: blocks of `sql/*.sql`, `:name` parameters, keyword calls."""

from __future__ import annotations

from typing import Any

import pytest

from cip.db.queries import SQL_DIR, compile_statement, parse, queries


def test_blocks_become_named_statements() -> None:
    statements = parse("-- name: one\nSELECT 1;\n\n-- name: two\n-- a comment\nSELECT 2;\n")
    assert statements.one.sql == "SELECT 1"
    assert statements.two.sql == "-- a comment\nSELECT 2"
    assert statements.one.params == statements.two.params == ()


@pytest.mark.parametrize("name", ["get", "update", "items", "keys", "values", "copy", "pop"])
def test_a_name_that_shadows_a_mapping_method_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        parse(f"-- name: {name}\nSELECT 1;\n")


def test_parameters_are_numbered_by_first_appearance() -> None:
    statement = compile_statement(
        "s", "SELECT :b::int, :a, :b -- not :c\nWHERE x = ':d' AND \"e:f\" = :a::text[]"
    )
    assert statement.sql == (
        "SELECT $1::int, $2, $1 -- not :c\nWHERE x = ':d' AND \"e:f\" = $2::text[]"
    )
    assert statement.params == ("b", "a")
    assert statement.args({"a": 1, "b": 2}) == [2, 1]


def test_a_call_must_name_every_parameter_and_no_other() -> None:
    statement = compile_statement("s", "SELECT :a, :b")
    with pytest.raises(TypeError, match=r"missing \['b'\], unknown \['c'\]"):
        statement.args({"a": 1, "c": 3})


async def test_keyword_calls_reach_the_database(pool: Any) -> None:
    statement = compile_statement("s", "SELECT :word::text || ':' || :count::integer")
    assert await statement.fetchval(pool, count=3, word="three") == "three:3"


def test_every_sql_file_loads() -> None:
    for path in SQL_DIR.glob("*.sql"):
        assert queries(path.stem), path
