"""Configuration: validation names the key, env overrides win, paths and secrets."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from cip.config import ConfigError, build_config, load_config

STRONG = "4PPVRg_td0mZVgvA4BN_t2URXNDDXjTDu8IeR7E_FcxVGWqY0GJ587we_nlFvCnk"  # token_urlsafe(48)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parent.parent / "config.toml", environ={})
    assert config.llm.model == "deepseek-chat"
    assert config.tenants["demo"].locale == "ru"
    assert config.logging.format == "text"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 'eighty'\n", "server.port"),
        ("[server]\nprot = 8000\n", "server.prot"),
        ("[server]\nworkers = 0\n", "server.workers"),
        ("[llm]\ntemperature = 7\n", "llm.temperature"),
        ("[database]\nurl = 'mysql://x'\n", "database.url"),
        ("[tenants.demo]\nlocale = 'de'\n", "tenants.demo.locale"),
        ("[tenants.Bad_Slug]\nname = 'x'\n", "tenants"),
        ("[tenants.demo]\nretention_days = -1\n", "tenants.demo.retention_days"),
        ("[tenants.demo]\nretention_days = 'a month'\n", "tenants.demo.retention_days"),
        ("[tenants.demo]\nmonthly_answer_quota = -1\n", "tenants.demo.monthly_answer_quota"),
        ("[tenants.demo]\nmonthly_token_quota = 2.5\n", "tenants.demo.monthly_token_quota"),
        ("[tenants.demo]\nquota_warning_percent = 101\n", "tenants.demo.quota_warning_percent"),
        ("[tenants.demo]\nnotify = ['ops']\n", "tenants.demo.notify.0"),
        ("[logging]\nformat = 'xml'\n", "logging.format"),
        ("[logging]\nlevel = 'debug'\n", "logging.level"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert f"{key}:" in str(info.value)


@pytest.mark.parametrize("slug", ["api", "static", "healthz", "readyz", "metrics"])
def test_reserved_slugs_cannot_be_tenants(tmp_path: Path, slug: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"[tenants.{slug}]\nname = 'X'\n"), environ={})
    assert str(info.value) == (
        f"invalid configuration: tenants: Value error, {slug!r} is reserved: the service "
        f"routes /{slug} itself (reserved: api, healthz, metrics, readyz, static)"
    )


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[server\n"), environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8000\n[llm]\napi_key = 'from-file'\n")
    config = load_config(
        path,
        environ={
            "APP_PORT": "9123",
            "DEEPSEEK_API_KEY": "from-env",
            "JWT_SECRET": STRONG,
            "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/cip",
            "SMTP_FROM": "a@b.c",
        },
    )
    assert config.server.port == 9123
    assert config.llm.api_key == "from-env"
    assert config.auth.jwt_secret == STRONG
    assert config.database.url == "postgresql://u:p@db:5432/cip"
    assert config.smtp.sender == "a@b.c"


def test_bad_environment_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port:"):
        load_config(write(tmp_path, ""), environ={"APP_PORT": "http"})


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = write(
        folder,
        "[prompts]\ndefault_file = 'p/system.txt'\n[tenants.acme]\nprompt_file = 'acme.txt'\n",
    )
    config = load_config(path, environ={})
    assert config.prompts.default_file == folder / "p/system.txt"
    assert config.tenants["acme"].prompt_file == folder / "acme.txt"
    assert config.server.state_dir == folder / "var"


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "short",
        "change-me-please-change-me-please-1234",
        "a" * 32,
        "password" * 4,
        "P@ssw0rd!" * 4,
        "0123456789abcdef" * 4,  # hex digits, in order
        "abcdefghijklmnopqrstuvwxyz012345",
        "thisismysupersecretjwtkeyforprod",
        "adb7ef1b3618cadb8e1a80cad568da7c",  # 16 random bytes, in 32 hex digits
    ],
)
def test_production_refuses_a_weak_secret(tmp_path: Path, secret: str) -> None:
    raw = {"server": {"mode": "production"}, "auth": {"jwt_secret": secret}}
    with pytest.raises(ConfigError) as refused:
        build_config(raw, root=tmp_path, environ={})
    assert str(refused.value) == (
        "auth.jwt_secret: missing or weak: it must be at least 32 random bytes (an estimated "
        "160 bits or more), not a word, a pattern or a 'change-me' placeholder. Set it (or "
        "JWT_SECRET) to the output of: "
        'python -c "import secrets; print(secrets.token_urlsafe(48))"'
    )


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    raw = {
        "server": {"mode": "production"},
        "auth": {"jwt_secret": STRONG},
        "smtp": {"host": "relay.example"},
    }
    assert build_config(raw, root=tmp_path, environ={}).auth.jwt_secret == STRONG


GENERATORS: dict[str, Callable[[], str]] = {
    "token_urlsafe(32)": lambda: secrets.token_urlsafe(32),
    "token_urlsafe(48)": lambda: secrets.token_urlsafe(48),
    "openssl rand -hex 32": lambda: secrets.token_hex(32),
    "openssl rand -base64 32": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
}


@pytest.mark.parametrize("generator", GENERATORS)
def test_production_accepts_every_secret_of_32_random_bytes(tmp_path: Path, generator: str) -> None:
    for _ in range(200):
        secret = GENERATORS[generator]()
        raw = {
            "server": {"mode": "production"},
            "auth": {"jwt_secret": secret},
            "smtp": {"host": "relay.example"},
        }
        assert build_config(raw, root=tmp_path, environ={}).auth.jwt_secret == secret


def test_production_refuses_to_start_without_an_smtp_relay(tmp_path: Path) -> None:
    """Without one, mails (confirmation and reset links included) would go to the log."""
    raw = {"server": {"mode": "production"}, "auth": {"jwt_secret": STRONG}}
    with pytest.raises(ConfigError) as info:
        build_config(raw, root=tmp_path, environ={})
    assert str(info.value) == (
        "smtp.host: required in production (without it mails, their links included, would "
        "be written to the log); set it or SMTP_HOST"
    )
    relayed = build_config(
        raw,
        root=tmp_path,
        environ={"SMTP_HOST": "relay.example", "SMTP_STARTTLS": "true", "SMTP_TLS": "false"},
    )
    assert (relayed.smtp.host, relayed.smtp.starttls, relayed.smtp.use_tls) == (
        "relay.example",
        True,
        False,
    )


def test_development_generates_a_secret_once_and_keeps_it(tmp_path: Path) -> None:
    first = build_config({"auth": {"jwt_secret": "change-me"}}, root=tmp_path, environ={})
    second = build_config({}, root=tmp_path, environ={})
    assert len(first.auth.jwt_secret) >= 32
    assert first.auth.jwt_secret == second.auth.jwt_secret
    assert (tmp_path / "var" / "jwt_secret").stat().st_mode & 0o077 == 0


def test_smtp_never_sends_the_password_in_clear(tmp_path: Path) -> None:
    plain = {"smtp": {"host": "mail.test", "user": "u", "password": "p", "starttls": False}}
    with pytest.raises(ConfigError, match=r"smtp: .*starttls = false would send the password"):
        build_config(plain, root=tmp_path, environ={})
    both = {"smtp": {"host": "mail.test", "use_tls": True, "starttls": True}}
    with pytest.raises(ConfigError, match=r"smtp: .*exclude each other"):
        build_config(both, root=tmp_path, environ={})
    config = build_config({"smtp": {"ca_file": "relay-ca.pem"}}, root=tmp_path, environ={})
    assert (config.smtp.starttls, config.smtp.ca_file) == ("auto", tmp_path / "relay-ca.pem")
