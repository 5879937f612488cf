"""The command line against a real database: migrate, tenant create, tenant list."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from cip.db.migrations import migration_ids
from support.cli import cip
from support.database import ROOT, DatabaseServer
from support.live_server import free_port


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


RESERVED = [
    "api",
    "static",
    "healthz",
    "readyz",
    "metrics",
]  # the service's own first path segments


def test_reserved_slugs_are_refused(database_server: DatabaseServer, tmp_path: Path) -> None:
    url = database_server.create_database("cip_cli")
    assert cip("migrate", database_url=url, tmp_path=tmp_path).returncode == 0
    for slug in RESERVED:
        refused = cip(
            "tenant", "create", "--slug", slug, "--name", "X", database_url=url, tmp_path=tmp_path
        )
        assert refused.returncode == 2
        assert refused.stderr == (
            f"cip tenant create: argument --slug: {slug!r} is reserved: the service routes "
            f"/{slug} itself (reserved: api, healthz, metrics, readyz, static); "
            "see `cip tenant create --help`\n"
        )
    listed = cip("tenant", "list", database_url=url, tmp_path=tmp_path).stdout.splitlines()
    assert sorted(line.split("\t")[1] for line in listed) == ["cli-configured", "demo"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_blank_or_long_tenant_name_is_one_line(
    database_server: DatabaseServer, tmp_path: Path, name: str
) -> None:
    url = database_server.url_for("never_reached")
    refused = cip(
        "tenant", "create", "--slug", "named", "--name", name, database_url=url, tmp_path=tmp_path
    )
    assert refused.returncode == 2
    assert refused.stderr == (
        "cip tenant create: argument --name: 1 to 200 characters, not only spaces; "
        "see `cip tenant create --help`\n"
    )


@pytest.mark.parametrize(
    "command", [("tenant", "list"), ("tenant", "create", "--slug", "early", "--name", "Early")]
)
def test_tenant_commands_before_migrate_say_to_migrate(
    database_server: DatabaseServer, tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = database_server.create_database("cip_cli")
    early = cip(*command, database_url=url, tmp_path=tmp_path)
    assert early.returncode == 2
    assert early.stderr == (
        f"cip: the database is not migrated ({len(migration_ids())} migration(s) pending): "
        "run `cip migrate` first\n"
    )


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    for command in (("tenant", "list"), ("migrate",)):
        failed = cip(*command, database_url=url, tmp_path=tmp_path)
        assert failed.returncode == 2
        assert failed.stderr.startswith("cip: cannot connect to the database: ")
        assert failed.stderr.endswith(" (check DATABASE_URL or [database] url)\n")
        assert failed.stderr.count("\n") == 1


# The holder of the port may share it (SO_REUSEPORT, as another `cip serve --workers` does):
# the workers, which bind the same way, must not join it.
@pytest.mark.parametrize("shared", [False, True], ids=["held", "held-shareable"])
@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one-process", "workers"])
def test_serve_on_a_port_in_use_is_one_line(
    database_server: DatabaseServer, tmp_path: Path, workers: tuple[str, ...], shared: bool
) -> None:
    url = database_server.create_database("cip_cli")
    prompt = ROOT / "prompts" / "system_prompt.txt"
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, shared)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / "config.toml").write_text(
            f"[server]\nport = {port}\n[prompts]\ndefault_file = '{prompt}'\n"
        )
        served = cip("serve", *workers, database_url=url, tmp_path=tmp_path)
    assert served.returncode == 2
    assert "Traceback" not in served.stderr
    assert served.stderr.splitlines()[-1] == (
        f"cip: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(stop what holds it, or set [server] port / APP_PORT)"
    )


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_a_bad_worker_count_is_one_line(tmp_path: Path, workers: str) -> None:
    refused = cip("serve", "--workers", workers, database_url="", tmp_path=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == (
        "cip serve: argument --workers: a whole number, 1 or more; see `cip serve --help`\n"
    )
