"""The schema: yoyo migrations from `migrations/`, applied through a synchronous driver (run it
in a worker thread from async code)."""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def migration_ids() -> set[str]:
    return {path.stem for path in MIGRATIONS_DIR.glob("*.sql")}


def apply_migrations(url: str) -> list[str]:
    """Apply pending migrations; return the ids applied (empty when up to date)."""
    backend = get_backend("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [migration.id for migration in pending]
    finally:
        backend.connection.close()
