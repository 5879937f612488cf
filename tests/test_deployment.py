"""The compose files: production runs two app replicas behind nginx (the repository's
nginx.conf.template, which trusts nothing but its own network for client addresses), sends
mail through a relay it is given and publishes nothing beyond the host's loopback (a TLS proxy
there faces the world); the development override runs one replica and adds the mail catcher,
on loopback too, since it holds every account mail and its UI has no login."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml

from cip.config import Config, ConfigError, build_config
from support.database import ROOT
from support.proxy import NGINX_TEMPLATE, render

SMTP_VARIABLES = ["SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM"]
STRONG_SECRET = "kq3V9xg2Yb7_NwR0ZsT4LmA8pHcD1eFuJ6iWoQyXvB5tKnE-GrhMzUa2Sd0lPfCj"  # 48 random


def compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return loaded


def published(services: dict[str, Any]) -> dict[str, list[str]]:
    return {name: service.get("ports", []) for name, service in services.items()}


def filled(value: object, shell: Mapping[str, str]) -> str:
    """A compose value with its `${NAME:-default}` filled in from `shell`, as compose does."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m[1]) or m[2], str(value))


def test_production_has_no_mail_catcher_and_takes_its_relay_from_the_environment() -> None:
    services = compose("docker-compose.yml")["services"]
    assert sorted(services) == ["app", "nginx", "postgres"]
    environment = services["app"]["environment"]
    assert environment["CIP_MODE"] == "production"  # which refuses to start without a relay
    for variable in SMTP_VARIABLES:
        assert environment[variable].startswith(f"${{{variable}:"), variable
    assert published(services) == {"app": [], "nginx": ["127.0.0.1:8000:80"], "postgres": []}


def test_production_runs_two_replicas_behind_nginx_with_the_repository_template() -> None:
    production = compose("docker-compose.yml")
    app, nginx = production["services"]["app"], production["services"]["nginx"]
    assert app["deploy"] == {"replicas": 2}
    assert nginx["volumes"] == ["./nginx.conf.template:/etc/nginx/templates/nginx.conf.template:ro"]
    assert nginx["depends_on"] == {"app": {"condition": "service_healthy"}}
    # The image's entrypoint fills in the CIP_ variables only, and every placeholder has one.
    environment = {name: filled(value, {}) for name, value in nginx["environment"].items()}
    assert environment["NGINX_ENVSUBST_FILTER"] == "^CIP_"
    assert environment["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    rendered = render(NGINX_TEMPLATE.read_text(encoding="utf-8"), environment)
    assert "    listen 80;\n" in rendered
    assert "        server app:8000;\n" in rendered  # every replica behind the name
    # The replicas trust their own network for X-Forwarded-For: nginx and the host's gateway.
    for shell in ({}, {"CIP_SUBNET": "10.77.0.0/24"}):
        [network] = production["networks"]["default"]["ipam"]["config"]
        assert filled(app["environment"]["TRUSTED_PROXIES"], shell) == filled(
            network["subnet"], shell
        )


def test_the_development_override_adds_the_catcher_on_loopback_only() -> None:
    services = compose("docker-compose.dev.yml")["services"]
    assert sorted(services) == ["app", "mailpit"]
    assert services["app"]["environment"]["SMTP_HOST"] == "mailpit"
    assert services["app"]["depends_on"] == {"mailpit": {"condition": "service_started"}}
    # Development generates its JWT secret in the container: one replica, or tokens would
    # not pass from one to another.
    assert services["app"]["deploy"] == {"replicas": 1}
    assert published(services) == {"app": [], "mailpit": ["127.0.0.1:8025:8025"]}


def container_config(files: list[str], shell: Mapping[str, str], root: Path) -> Config:
    """The config the app container would load: the image's config.toml, overridden by the
    app's environment from the compose files (later files win), filled in from `shell` as
    compose does for the `${NAME:-default}` form these files use."""
    environment: dict[str, str] = {}
    for name in files:
        environment.update(compose(name)["services"]["app"].get("environment", {}))
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    return build_config(
        raw, root=root, environ={key: filled(value, shell) for key, value in environment.items()}
    )


def test_production_without_a_relay_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^smtp\.host: required in production"):
        container_config(["docker-compose.yml"], {"JWT_SECRET": STRONG_SECRET}, tmp_path)
    relay = {"JWT_SECRET": STRONG_SECRET, "SMTP_HOST": "smtp.example.com", "SMTP_USER": "cip"}
    smtp = container_config(["docker-compose.yml"], relay, tmp_path).smtp
    assert (smtp.host, smtp.port, smtp.user, smtp.starttls) == (
        "smtp.example.com",
        587,
        "cip",
        True,
    )


def test_development_sends_to_the_catcher_without_any_variable(tmp_path: Path) -> None:
    config = container_config(["docker-compose.yml", "docker-compose.dev.yml"], {}, tmp_path)
    assert not config.is_production
    assert (config.smtp.host, config.smtp.port, config.smtp.starttls) == ("mailpit", 1025, False)
    assert config.server.trusted_proxies == (ip_network("172.30.53.0/24"),)
