"""Whether a statement stays inside one tenant, read from PostgreSQL's own parse tree (pglast).

The rule the schema is built for (a tenant's rows can live together on one node when the
tables are distributed by `tenant_id`): every tenant-owned table a statement reads, updates or
deletes from has its `tenant_id` fixed by equality, to the statement's `:tenant_id` parameter
or to the `tenant_id` of another table (or CTE, or subquery) already fixed so, in a join or a
correlated condition; every row it inserts takes its `tenant_id` from the same place; no
update sets `tenant_id` to anything else. Only conditions every row must meet count: the
top-level `AND`s of a `WHERE`, the `ON` of an inner join (of an outer join, for its nullable
side only), an `OR` only when each of its branches fixes the table.

A tenant-owned table is one with a `tenant_id` column, as the migrations' `CREATE TABLE` and
`ALTER TABLE` statements leave it (`schema_of`). A construct the checker does not follow is a
finding, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast
from pglast.enums import A_Expr_Kind, AlterTableType, BoolExprType, ConstrType, JoinType
from pglast.stream import RawStream

TENANT = "tenant_id"  # the column, and the parameter that names the statement's tenant


@dataclass(frozen=True)
class Schema:
    """The tables the migrations create: their columns in order, and the tables their foreign
    keys point to."""

    columns: Mapping[str, tuple[str, ...]]
    references: Mapping[str, frozenset[str]]

    @property
    def tenant_owned(self) -> frozenset[str]:
        return frozenset(table for table, columns in self.columns.items() if TENANT in columns)


def schema_of(migrations: Iterable[str]) -> Schema:
    """The schema that running the migrations' SQL texts, in order, leaves behind."""
    columns: dict[str, list[str]] = {}
    references: dict[str, set[str]] = {}
    for text in migrations:
        for raw in pglast.parse_sql(text):
            statement = raw.stmt
            if isinstance(statement, ast.CreateStmt):
                table = _table(statement.relation)
                columns[table], references[table] = [], set()
                for element in statement.tableElts or ():
                    _define(table, element, columns, references)
            elif isinstance(statement, ast.AlterTableStmt):
                table = _table(statement.relation)
                for command in statement.cmds or ():
                    if command.subtype == AlterTableType.AT_DropColumn:
                        columns[table].remove(_text(command.name))
                    elif command.def_ is not None:
                        _define(table, command.def_, columns, references)
    return Schema(
        {table: tuple(names) for table, names in columns.items()},
        {table: frozenset(targets) for table, targets in references.items()},
    )


def _define(
    table: str, element: Any, columns: dict[str, list[str]], references: dict[str, set[str]]
) -> None:
    """A column or a constraint, in a CREATE TABLE or added by ALTER TABLE."""
    constraints = [element] if isinstance(element, ast.Constraint) else []
    if isinstance(element, ast.ColumnDef):
        columns[table].append(_text(element.colname))
        constraints = list(element.constraints or ())
    for constraint in constraints:
        if constraint.contype == ConstrType.CONSTR_FOREIGN:
            references[table].add(_table(constraint.pktable))


def tenant_findings(sql: str, params: Sequence[str], schema: Schema) -> list[str]:
    """What in one statement (`$n` placeholders, `params[n - 1]` naming each) reaches past
    its tenant; empty when it stays inside it."""
    statements = pglast.parse_sql(sql)
    if len(statements) != 1:
        return [f"{len(statements)} statements where one was expected"]
    checker = _Checker(schema, params)
    checker.statement(statements[0].stmt, _Scope())
    return checker.findings


# A query's output columns in order: each one's name (None when it has none) and whether its
# value is the statement's tenant in every row.
_Output = list[tuple[str | None, bool]]

# A condition, and the sources of its scope it can fix (None: all of them).
_Condition = tuple[Any, frozenset[str] | None]


@dataclass
class _Source:
    """One name a query reads rows through: a table, a CTE, a subquery or a function."""

    columns: tuple[str, ...]
    table: str | None = None  # the tenant-owned table it reads, which must be fixed
    fixed: bool = False  # its tenant_id is the statement's tenant


@dataclass
class _Scope:
    """The names one query level sees: its own sources and CTEs, then those around it."""

    parent: _Scope | None = None
    sources: dict[str, _Source] = field(default_factory=dict)
    ctes: dict[str, _Output] = field(default_factory=dict)

    def cte(self, name: str) -> _Output | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.ctes:
                return scope.ctes[name]
            scope = scope.parent
        return None


class _Checker:
    def __init__(self, schema: Schema, params: Sequence[str]) -> None:
        self.schema = schema
        self.params = params
        self.findings: list[str] = []

    def find(self, finding: str) -> None:
        if finding not in self.findings:
            self.findings.append(finding)

    @contextmanager
    def trial(self) -> Iterator[None]:
        """Findings made inside are dropped: a query looked at before its scope is settled."""
        kept = self.findings
        self.findings = []
        try:
            yield
        finally:
            self.findings = kept

    # Statements

    def statement(self, node: Any, outer: _Scope) -> _Output:
        if isinstance(node, ast.SelectStmt):
            return self.select(node, outer)
        if isinstance(node, ast.InsertStmt):
            return self.insert(node, outer)
        if isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            return self.update_or_delete(node, outer)
        self.find(f"cannot check a {type(node).__name__}")
        return []

    def with_clause(self, clause: ast.WithClause | None, outer: _Scope) -> _Scope:
        scope = _Scope(parent=outer)
        if clause and clause.recursive:
            self.find("cannot check a recursive CTE")
        for cte in (clause.ctes or ()) if clause else ():
            output = self.statement(cte.ctequery, scope)
            scope.ctes[_text(cte.ctename)] = _renamed(output, cte.aliascolnames)
        return scope

    def select(self, node: ast.SelectStmt, outer: _Scope) -> _Output:
        scope = self.with_clause(node.withClause, outer)
        if node.larg is not None and node.rarg is not None:  # UNION, INTERSECT, EXCEPT
            left, right = self.select(node.larg, scope), self.select(node.rarg, scope)
            return [(name, a and b) for (name, a), (_, b) in zip(left, right, strict=True)]
        if node.valuesLists:
            rows = [list(row) for row in node.valuesLists]
            self.subqueries(rows, scope)
            return [
                (f"column{index + 1}", all(self.anchored(row[index], scope) for row in rows))
                for index in range(len(rows[0]))
            ]
        here = _Scope(parent=scope)
        conditions: list[_Condition] = []
        subselects: list[tuple[ast.RangeSubselect, _Source]] = []
        for item in node.fromClause or ():
            self.from_item(item, here, conditions, subselects)
        if node.whereClause is not None:
            conditions.append((node.whereClause, None))
        self.settle(here, conditions, subselects)
        self.subqueries(node, here)
        return self.outputs(node.targetList, here)

    def insert(self, node: ast.InsertStmt, outer: _Scope) -> _Output:
        scope = self.with_clause(node.withClause, outer)
        table = _table(node.relation)
        if table not in self.schema.columns:
            self.find(f"unknown table {table}")
            return []
        columns = tuple(column.name for column in node.cols or ()) or self.schema.columns[table]
        rows = self.statement(node.selectStmt, scope) if node.selectStmt is not None else []
        given = dict(zip(columns, (anchored for _, anchored in rows), strict=False))
        anchored = given.get(TENANT, False)
        if table in self.schema.tenant_owned and not anchored:
            self.find(f"{table}: inserted rows' tenant_id is not :{TENANT}")
        # The row written: inserted, or the existing one its unique key (which holds tenant_id
        # in every tenant-owned table) conflicts with; ON CONFLICT also sees the one proposed.
        alias = _name(node.relation)
        written = _Scope(scope, {alias: _Source(self.schema.columns[table], fixed=anchored)})
        if node.onConflictClause is not None:
            upsert = _Scope(written, {"excluded": written.sources[alias]})
            self.assignments(table, node.onConflictClause.targetList, upsert)
            self.subqueries(node.onConflictClause, upsert)
        self.subqueries(node.returningClause, written)
        return self.outputs(_returned(node.returningClause), written)

    def update_or_delete(self, node: ast.UpdateStmt | ast.DeleteStmt, outer: _Scope) -> _Output:
        scope = self.with_clause(node.withClause, outer)
        here = _Scope(parent=scope)
        conditions: list[_Condition] = []
        subselects: list[tuple[ast.RangeSubselect, _Source]] = []
        self.from_item(node.relation, here, conditions, subselects)
        if isinstance(node, ast.UpdateStmt):
            others, assigned = node.fromClause, node.targetList
        else:
            others, assigned = node.usingClause, None
        for item in others or ():
            self.from_item(item, here, conditions, subselects)
        if node.whereClause is not None:
            conditions.append((node.whereClause, None))
        self.settle(here, conditions, subselects)
        self.assignments(_table(node.relation), assigned, here)
        self.subqueries(node, here)
        return self.outputs(_returned(node.returningClause), here)

    # FROM items and the conditions that fix them

    def from_item(
        self,
        item: Any,
        here: _Scope,
        conditions: list[_Condition],
        subselects: list[tuple[ast.RangeSubselect, _Source]],
    ) -> frozenset[str]:
        """Adds the item's sources to `here`; returns their names."""
        if isinstance(item, ast.RangeVar):
            name, table = _name(item), _table(item)
            cte = here.cte(table) if item.schemaname is None else None
            if cte is not None:
                fixed = any(column == TENANT and anchored for column, anchored in cte)
                here.sources[name] = _Source(_names(cte), fixed=fixed)
            elif table in self.schema.columns:
                owned = table in self.schema.tenant_owned
                here.sources[name] = _Source(
                    self.schema.columns[table], table=table if owned else None
                )
            else:
                self.find(f"unknown table {table}")
            return frozenset({name})
        if isinstance(item, ast.RangeSubselect):
            name = _text(item.alias.aliasname) if item.alias else "(subquery)"
            here.sources[name] = source = _Source(())
            subselects.append((item, source))
            return frozenset({name})
        if isinstance(item, ast.RangeFunction) and item.alias is not None:
            name = _text(item.alias.aliasname)
            here.sources[name] = _Source(_strings(item.alias.colnames) or (name,))
            return frozenset({name})
        if isinstance(item, ast.JoinExpr) and not (item.usingClause or item.isNatural):
            left = self.from_item(item.larg, here, conditions, subselects)
            right = self.from_item(item.rarg, here, conditions, subselects)
            if item.quals is not None:
                # An outer join's ON filters only the side it may fill with NULLs.
                sides = {JoinType.JOIN_LEFT: right, JoinType.JOIN_RIGHT: left}
                if item.jointype == JoinType.JOIN_INNER:
                    conditions.append((item.quals, left | right))
                elif item.jointype in sides:
                    conditions.append((item.quals, sides[item.jointype]))
            return left | right
        self.find(f"cannot check the FROM item {RawStream()(item)}")
        return frozenset()

    def settle(
        self,
        here: _Scope,
        conditions: list[_Condition],
        subselects: list[tuple[ast.RangeSubselect, _Source]],
    ) -> None:
        """Fixes every source the conditions fix, following chains (a fixed source's tenant_id
        fixes another's) and subqueries in FROM (whose output may depend on what is fixed
        around them), until nothing changes; then reports the tenant-owned tables left
        unfixed and checks the subqueries for good."""
        while True:
            before = [source.fixed for source in here.sources.values()]
            with self.trial():
                self.look_into(subselects, here)
            for condition, fixable in conditions:
                for name in self.fixes(condition, here, frozenset()):
                    if fixable is None or name in fixable:
                        here.sources[name].fixed = True
            if before == [source.fixed for source in here.sources.values()]:
                break
        for name, source in here.sources.items():
            if source.table is not None and not source.fixed:
                shown = source.table if name == source.table else f"{source.table} AS {name}"
                self.find(f"{shown}: tenant_id is not fixed to :{TENANT}")
        self.look_into(subselects, here)

    def look_into(self, subselects: list[tuple[ast.RangeSubselect, _Source]], here: _Scope) -> None:
        for item, source in subselects:
            output = self.statement(item.subquery, here)
            output = _renamed(output, item.alias.colnames if item.alias else None)
            source.columns = _names(output)
            source.fixed |= any(name == TENANT and anchored for name, anchored in output)

    def fixes(self, condition: Any, here: _Scope, assumed: frozenset[str]) -> frozenset[str]:
        """The sources of `here` whose tenant_id `condition` fixes, when those in `assumed`
        (beside those already fixed) are."""
        if isinstance(condition, ast.BoolExpr) and condition.boolop == BoolExprType.AND_EXPR:
            found: frozenset[str] = frozenset()
            while True:
                more = frozenset().union(
                    *(self.fixes(arg, here, assumed | found) for arg in condition.args or ())
                )
                if more <= found:
                    return found
                found |= more
        if isinstance(condition, ast.BoolExpr) and condition.boolop == BoolExprType.OR_EXPR:
            branches = [self.fixes(arg, here, assumed) for arg in condition.args or ()]
            return frozenset.intersection(*branches)
        if _is_equality(condition):
            found = frozenset()
            for column, value in (
                (condition.lexpr, condition.rexpr),
                (condition.rexpr, condition.lexpr),
            ):
                name = self.tenant_column_of(column, here)
                if name is not None and self.anchored(value, here, assumed):
                    found |= {name}
            return found
        return frozenset()

    # Expressions

    def resolve(self, expr: Any, here: _Scope) -> tuple[_Scope, str, str] | None:
        """The scope, source and column a column reference names."""
        expr = _uncast(expr)
        if not isinstance(expr, ast.ColumnRef):
            return None
        fields = [part.sval if isinstance(part, ast.String) else None for part in expr.fields or ()]
        if None in fields or len(fields) > 2:
            self.find(f"cannot check the column reference {RawStream()(expr)}")
            return None
        column = fields[-1]
        assert column is not None
        scope: _Scope | None = here
        while scope is not None:
            if len(fields) == 2 and fields[0] in scope.sources:
                return scope, str(fields[0]), column
            if len(fields) == 1:
                having = [name for name, src in scope.sources.items() if column in src.columns]
                if len(having) > 1:
                    self.find(f"{column} is ambiguous between {', '.join(having)}")
                    return None
                if having:
                    return scope, having[0], column
            scope = scope.parent
        return None

    def tenant_column_of(self, expr: Any, here: _Scope) -> str | None:
        """The source of `here` whose tenant_id `expr` is, if it is one."""
        found = self.resolve(expr, here)
        if found is None or found[0] is not here or found[2] != TENANT:
            return None
        return found[1]

    def anchored(self, expr: Any, here: _Scope, assumed: frozenset[str] = frozenset()) -> bool:
        """Whether `expr` is the statement's tenant: the :tenant_id parameter, or the
        tenant_id of a fixed source."""
        expr = _uncast(expr)
        if isinstance(expr, ast.ParamRef):
            return self.params[(expr.number or 0) - 1] == TENANT
        found = self.resolve(expr, here)
        if found is None or found[2] != TENANT:
            return False
        scope, name, _ = found
        return scope.sources[name].fixed or (scope is here and name in assumed)

    def assignments(self, table: str, targets: Any, here: _Scope) -> None:
        """An UPDATE's or upsert's SET may not move a row to another tenant."""
        for target in targets or ():
            if target.name == TENANT and not self.anchored(target.val, here):
                self.find(f"{table}: tenant_id is set to something other than :{TENANT}")

    def outputs(self, targets: Any, here: _Scope) -> _Output:
        output: _Output = []
        for target in targets or ():
            value = target.val
            last = value.fields[-1] if isinstance(value, ast.ColumnRef) and value.fields else None
            if isinstance(last, ast.A_Star):
                self.find("cannot check `*`: name the columns")
                continue
            name = target.name
            if name is None and isinstance(last, ast.String):
                name = last.sval
            output.append((name, self.anchored(value, here)))
        return output

    def subqueries(self, node: Any, here: _Scope) -> None:
        """Checks every subquery in an expression (EXISTS, IN, scalar), `here` around it."""
        for sublink in _sublinks(node):
            self.statement(sublink.subselect, here)


def _sublinks(node: Any) -> Iterator[ast.SubLink]:
    """The subqueries in `node`'s expressions, not those of the queries it holds (CTEs,
    subqueries in FROM, the branches of a UNION, an INSERT's rows: each is a query of its
    own)."""
    children = node if isinstance(node, list | tuple) else ()
    if isinstance(node, ast.Node):
        children = tuple(getattr(node, attribute) for attribute in node)
    for child in children:
        if isinstance(child, ast.SubLink):
            yield child
        elif not isinstance(child, _QUERIES):
            yield from _sublinks(child)


_QUERIES = (
    ast.SelectStmt,
    ast.InsertStmt,
    ast.UpdateStmt,
    ast.DeleteStmt,
    ast.WithClause,
    ast.RangeSubselect,
)


def _is_equality(expr: Any) -> bool:
    return (
        isinstance(expr, ast.A_Expr)
        and expr.kind == A_Expr_Kind.AEXPR_OP
        and _strings(expr.name) == ("=",)
    )


def _uncast(expr: Any) -> Any:
    while isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return expr


def _returned(clause: Any) -> Any:
    """RETURNING's expressions (a ReturningClause since PostgreSQL 18's parser)."""
    return getattr(clause, "exprs", clause)


def _names(output: _Output) -> tuple[str, ...]:
    return tuple(name for name, _ in output if name is not None)


def _renamed(output: _Output, aliases: Any) -> _Output:
    """Output columns under the names an alias list (`AS x (a, b)`) gives them."""
    names = _strings(aliases)
    return [
        (names[index] if index < len(names) else name, anchored)
        for index, (name, anchored) in enumerate(output)
    ]


# pglast's stubs type every field optional; the parser always gives these.


def _text(value: str | None) -> str:
    assert value is not None
    return value


def _table(relation: ast.RangeVar | None) -> str:
    assert relation is not None
    return _text(relation.relname)


def _name(relation: ast.RangeVar | None) -> str:
    """What a query calls a table: its alias, or its name."""
    assert relation is not None
    return _text(relation.alias.aliasname) if relation.alias else _table(relation)


def _strings(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(_text(value.sval) for value in values or ())
