"""The command line against a real database: migrate, tenant create, tenant list."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from cip.db.migrations import migration_ids
from support.database import DatabaseServer


def cip(*args: str, database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text("[tenants.cli-configured]\nname = 'From config'\nlocale = 'en'\n")
    env = {**os.environ, "DATABASE_URL": database_url, "CIP_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "cip", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_migrate_then_tenant_create_and_list(
    database_server: DatabaseServer, tmp_path: Path
) -> None:
    url = database_server.create_database("cip_cli")
    migrated = cip("migrate", database_url=url, tmp_path=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert f"applied {len(migration_ids())} migration(s)" in migrated.stdout
    again = cip("migrate", database_url=url, tmp_path=tmp_path)
    assert "applied 0 migration(s)" in again.stdout

    slug = f"acme-{uuid.uuid4().hex[:6]}"
    created = cip(
        "tenant",
        "create",
        "--slug",
        slug,
        "--name",
        "ACME Inc.",
        database_url=url,
        tmp_path=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    tenant_id = created.stdout.split("\t")[0]
    assert uuid.UUID(tenant_id)

    duplicate = cip(
        "tenant", "create", "--slug", slug, "--name", "Again", database_url=url, tmp_path=tmp_path
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr

    listed = cip("tenant", "list", database_url=url, tmp_path=tmp_path).stdout.splitlines()
    rows = {line.split("\t")[1]: line.split("\t") for line in listed}
    assert rows[slug] == [tenant_id, slug, "ACME Inc.", "ru"]
    assert rows["cli-configured"][2:] == ["From config", "en"]  # synced from the config file
    assert "demo" in rows


def test_bad_slug_and_bad_config_are_refused(
    database_server: DatabaseServer, tmp_path: Path
) -> None:
    url = database_server.url_for("unused")
    bad_slug = cip(
        "tenant",
        "create",
        "--slug",
        "Not A Slug",
        "--name",
        "x",
        database_url=url,
        tmp_path=tmp_path,
    )
    assert bad_slug.returncode == 2
    assert "--slug" in bad_slug.stderr
    (tmp_path / "config.toml").write_text("[server]\nport = 'x'\n")
    bad_config = cip("tenant", "list", database_url=url, tmp_path=tmp_path)
    assert bad_config.returncode == 2
    assert "server.port:" in bad_config.stderr
