"""PostgreSQL: where it runs (a URL, or an embedded server), its migrations, the pool, and the
query layer (`store/`) over the named statements of `sql/`."""
