-- depends: 0002_demo_tenant
-- Rate-limit counters are hot rows (every chat of one address bumps the same one) and worth
-- nothing after a crash. Unlogged, an upsert writes no WAL, so its commit does not wait for a
-- disk flush and the row lock is held for microseconds instead of a flush's milliseconds.
-- A crash of PostgreSQL empties the table: every window starts again from zero.
ALTER TABLE rate_counter SET UNLOGGED;
