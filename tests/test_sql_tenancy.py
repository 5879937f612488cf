"""Every named statement stays inside one tenant, which is what lets the tenant-owned tables be
distributed by tenant_id (README, "Scaling out"): each table it touches has its tenant_id fixed
to `:tenant_id` (`tests/support/tenant_sql.py` says exactly how). The checker is tested too, on
small statements that keep the rule and on several that break it. The README's Citus script is
checked against the migrations."""

from __future__ import annotations

import re
from pathlib import Path

import pglast
import pytest
from pglast import ast

from cip.db.migrations import MIGRATIONS_DIR
from cip.db.queries import SQL_DIR, Statement, compile_statement, queries
from support.tenant_sql import schema_of, tenant_findings

SCHEMA = schema_of(
    path.read_text(encoding="utf-8") for path in sorted(MIGRATIONS_DIR.glob("*.sql"))
)
STATEMENTS: dict[str, Statement] = {
    f"{path.stem}.{name}": statement
    for path in sorted(SQL_DIR.glob("*.sql"))
    for name, statement in queries(path.stem).items()
}

# Statements that span every tenant on purpose: housekeeping the service runs by itself, never
# for a visitor. Distributed, each runs on every shard.
GLOBAL_STATEMENTS = {
    # The sweep of replies left `streaming` by a process that died, in whatever tenant.
    "messages.interrupt_stale",
    # An instance's append of its answers in flight: one statement for all of them, each part
    # filed under its own answer's tenant (joined to that answer by tenant_id and id).
    "messages.append_parts",
    # Confirmation and reset tokens expired a day ago, in every tenant.
    "credentials.prune_tokens",
}


def findings(sql: str) -> list[str]:
    statement = compile_statement("snippet", sql)
    return tenant_findings(statement.sql, statement.params, SCHEMA)


def test_the_tenant_owned_tables_come_from_the_migrations() -> None:
    owned = SCHEMA.tenant_owned
    assert {"account", "dialog", "message", "saved_item", "user_profile"} <= owned
    assert not {"tenant", "rate_counter"} & owned
    assert SCHEMA.columns["message"][-4:] == ("html", "reply_to", "superseded", "sources")
    assert SCHEMA.references["saved_item"] == {"tenant", "message"}


@pytest.mark.parametrize("name", sorted(STATEMENTS.keys() - GLOBAL_STATEMENTS))
def test_a_statement_stays_inside_its_tenant(name: str) -> None:
    statement = STATEMENTS[name]
    assert tenant_findings(statement.sql, statement.params, SCHEMA) == []


@pytest.mark.parametrize("name", sorted(GLOBAL_STATEMENTS))
def test_a_global_statement_exists_and_still_needs_its_exception(name: str) -> None:
    assert name in STATEMENTS, f"{name} is gone: take it off GLOBAL_STATEMENTS"
    statement = STATEMENTS[name]
    assert tenant_findings(statement.sql, statement.params, SCHEMA), (
        f"{name} stays inside one tenant now: take it off GLOBAL_STATEMENTS"
    )


# The checker itself.


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(
            "SELECT id FROM dialog WHERE tenant_id = :tenant_id AND user_id = :user_id",
            id="filter",
        ),
        pytest.param(
            """SELECT message.id FROM dialog
               JOIN message ON message.tenant_id = dialog.tenant_id
                           AND message.dialog_id = dialog.id
               WHERE dialog.tenant_id = :tenant_id::uuid""",
            id="join",
        ),
        pytest.param(
            """SELECT id, (SELECT count(*) FROM message
                          WHERE message.tenant_id = dialog.tenant_id
                            AND message.dialog_id = dialog.id)
               FROM dialog WHERE tenant_id = :tenant_id""",
            id="correlated subquery",
        ),
        pytest.param(
            """WITH guest AS (
                   DELETE FROM user_profile WHERE tenant_id = :tenant_id AND user_id = :guest_id
                   RETURNING tenant_id, contact
               )
               INSERT INTO user_profile (tenant_id, user_id, contact)
               SELECT tenant_id, :user_id, contact FROM guest""",
            id="CTE returning tenant_id",
        ),
        pytest.param(
            """SELECT id FROM dialog
               WHERE (tenant_id = :tenant_id AND user_id = :a)
                  OR (tenant_id = :tenant_id AND id = :b)""",
            id="OR fixing each branch",
        ),
        pytest.param("SELECT id FROM tenant WHERE slug = :slug", id="global table"),
    ],
)
def test_a_statement_inside_one_tenant_passes(sql: str) -> None:
    assert findings(sql) == []


@pytest.mark.parametrize(
    ("sql", "unfixed"),
    [
        pytest.param(
            "SELECT id FROM dialog WHERE user_id = :user_id", ["dialog"], id="no tenant filter"
        ),
        pytest.param(
            "DELETE FROM message WHERE id = :message_id", ["message"], id="DELETE unfiltered"
        ),
        pytest.param("SELECT id FROM dialog WHERE tenant_id <> :tenant_id", ["dialog"], id="<>"),
        pytest.param(
            "SELECT id FROM dialog WHERE tenant_id IN (SELECT id FROM tenant WHERE slug = :slug)",
            ["dialog"],
            id="IN another tenant",
        ),
        pytest.param(
            "SELECT id FROM dialog WHERE tenant_id = ANY(:tenant_ids::uuid[])",
            ["dialog"],
            id="ANY of several",
        ),
        pytest.param(
            "SELECT id FROM dialog WHERE tenant_id = :account_id",
            ["dialog"],
            id="another parameter",
        ),
        pytest.param(  # AND binds tighter than OR: the last branch reads every tenant
            "SELECT id FROM dialog WHERE tenant_id = :tenant_id AND user_id = :user_id OR id = :id",
            ["dialog"],
            id="OR escaping the filter",
        ),
        pytest.param(  # the outer query's filter comes too late
            """WITH everything AS (SELECT dialog_id, content FROM message)
               SELECT content FROM everything JOIN dialog ON dialog.id = everything.dialog_id
               WHERE dialog.tenant_id = :tenant_id""",
            ["message"],
            id="CTE unfiltered",
        ),
        pytest.param(
            """SELECT id FROM dialog WHERE tenant_id = :tenant_id
               AND EXISTS (SELECT 1 FROM message WHERE message.dialog_id = dialog.id)""",
            ["message"],
            id="EXISTS unfiltered",
        ),
        pytest.param(
            """SELECT m.id FROM message AS m JOIN dialog AS d ON d.tenant_id = m.tenant_id
               WHERE d.id = :dialog_id""",
            ["message AS m", "dialog AS d"],
            id="joined on tenant_id, neither fixed",
        ),
        pytest.param(
            """SELECT d.id FROM dialog AS d
               LEFT JOIN message AS m ON m.tenant_id = :tenant_id AND d.tenant_id = :tenant_id""",
            ["dialog AS d"],
            id="LEFT JOIN's ON filters only the joined side",
        ),
    ],
)
def test_a_statement_reaching_past_its_tenant_fails(sql: str, unfixed: list[str]) -> None:
    assert findings(sql) == [f"{table}: tenant_id is not fixed to :tenant_id" for table in unfixed]


def test_writes_that_move_rows_between_tenants_fail() -> None:
    assert findings(
        "INSERT INTO dialog (tenant_id, user_id) VALUES (:tenant_id, :a), (:other_tenant_id, :b)"
    ) == ["dialog: inserted rows' tenant_id is not :tenant_id"]
    assert findings(
        """INSERT INTO dialog (tenant_id, user_id)
           SELECT tenant_id, :user_id FROM dialog WHERE id = :id"""
    ) == [
        "dialog: tenant_id is not fixed to :tenant_id",
        "dialog: inserted rows' tenant_id is not :tenant_id",
    ]
    assert findings(
        "UPDATE dialog SET tenant_id = :other_tenant_id WHERE tenant_id = :tenant_id AND id = :id"
    ) == ["dialog: tenant_id is set to something other than :tenant_id"]


def test_what_the_checker_cannot_follow_fails() -> None:
    assert findings("SELECT * FROM dialog WHERE tenant_id = :tenant_id") == [
        "cannot check `*`: name the columns"
    ]
    assert findings("SELECT 1; SELECT 2") == ["2 statements where one was expected"]
    assert findings("SELECT id FROM dialogs WHERE tenant_id = :tenant_id") == [
        "unknown table dialogs"
    ]


# The README's Citus steps.


def test_the_readme_distributes_every_tenant_owned_table_after_what_it_references() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    _, heading, rest = readme.partition("\n## Scaling out\n")
    script = re.search(r"```sql\n(.*?)```", rest.split("\n## ", 1)[0], re.DOTALL)
    assert heading and script, 'README.md: no SQL script under "Scaling out"'
    calls: list[tuple[str, list[str]]] = []  # each function called, with its string arguments
    for raw in pglast.parse_sql(script.group(1)):
        assert isinstance(raw.stmt, ast.SelectStmt)
        for target in raw.stmt.targetList or ():
            call = target.val
            assert isinstance(call, ast.FuncCall) and call.funcname
            function, arguments = call.funcname[-1], call.args or ()
            assert isinstance(function, ast.String)
            strings = [
                str(argument.val.sval)
                for argument in arguments
                if isinstance(argument, ast.A_Const) and isinstance(argument.val, ast.String)
            ]
            calls.append((str(function.sval), strings))
    distributed = {args[0]: args[1:] for name, args in calls if name == "create_distributed_table"}
    reference = {args[0] for name, args in calls if name == "create_reference_table"}
    assert distributed == {table: ["tenant_id"] for table in SCHEMA.tenant_owned}
    assert not reference & SCHEMA.tenant_owned
    done: list[str] = []
    for table in [args[0] for _, args in calls]:
        assert SCHEMA.references[table] <= set(done), f"{table} before what it references"
        done.append(table)
