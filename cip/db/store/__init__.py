"""The query layer: typed functions over the named statements of `sql/`, one module per file.

Every function takes an `Executor` (the pool, or a connection inside a transaction) and
keyword arguments, and returns pydantic row models, raising `cip.errors.NotFound` instead of
returning None where a row must exist.
"""
