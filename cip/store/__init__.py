"""The query layer: typed functions over the named statements of `sql/`.

Each function takes an asyncpg connection (or pool) and returns pydantic row models, raising
`cip.errors.NotFound` instead of returning None where a row must exist.
"""
