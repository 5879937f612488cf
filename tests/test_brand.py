"""A tenant's brand: what the config file accepts and refuses, the tenant info that carries
it, the stylesheet and files the pages load, the widget script, and the first page `/`."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cip.app import create_app
from cip.colours import contrast
from cip.config import ConfigError, build_config, load_config
from cip.http.brand import SVG_POLICY, WIDGET
from support.database import ROOT
from support.fixtures import Client, MakeConfig, NewTenant, StartClient
from support.process_server import ProcessServer

BRAND_FILES = ROOT / "tests/support/brand"
WIDGET_BUDGET = 10 * 1024  # bytes the host page loads before the chat is opened


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def brand_error(tmp_path: Path, brand: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"[tenants.acme.brand]\n{brand}\n"), environ={})
    return str(info.value)


def test_a_brand_is_read_with_its_files_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "brand/acme").mkdir(parents=True)
    shutil.copy(BRAND_FILES / "logo.svg", tmp_path / "brand/acme/logo.svg")
    config = load_config(
        write(
            tmp_path,
            "[tenants.acme.brand]\naccent = '#0B6E4F'\nlogo = 'brand/acme/logo.svg'\n"
            "bot_name = ' Ada '\nquick_replies = ['Prices?', 'Delivery?']\ntheme = 'dark'\n",
        ),
        environ={},
    )
    assert config.tenant_settings("acme") == {
        "brand": {
            "accent": "#0b6e4f",
            "logo": str(tmp_path / "brand/acme/logo.svg"),
            "bot_name": "Ada",
            "quick_replies": ["Prices?", "Delivery?"],
            "theme": "dark",
        }
    }


def test_an_accent_without_readable_text_on_it_is_refused(tmp_path: Path) -> None:
    # Mid grey: neither white (3.95:1) nor the dark text (4.18:1) reaches 4.5:1.
    assert brand_error(tmp_path, "accent = '#808080'") == (
        "invalid configuration: tenants.acme.brand.accent: Value error, #808080 fails WCAG AA "
        "for the text on it: 3.95:1 with white text, 4.18:1 with dark text (#1c1f24); 4.5:1 "
        "is needed"
    )
    # A dark accent takes white text, a light one the dark text: both read.
    for accent in ("#2456c7", "#ffd23f"):
        load_config(write(tmp_path, f"[tenants.acme.brand]\naccent = '{accent}'\n"), environ={})
    assert round(contrast("#808080", "#ffffff"), 2) == 3.95


@pytest.mark.parametrize(
    ("brand", "message"),
    [
        ("accent = 'green'", "'green' is not a colour like #2456c7"),
        ("accent = '#12345'", "'#12345' is not a colour like #2456c7"),
        ("quick_replies = ['1', '2', '3', '4', '5', '6', '7']", "at most 6 items"),
        ("quick_replies = ['']", "at least 1 character"),
        ('quick_replies = ["two\\nlines"]', "should match pattern"),
        ("theme = 'sepia'", "'light', 'dark' or 'auto'"),
        ("logo = 'logo.gif'", "not an image of a served type"),
        ("bot_name = '" + "x" * 61 + "'", "at most 60 characters"),
        ("colour = '#ffffff'", "unknown key"),
    ],
)
def test_bad_brand_values_name_the_key(tmp_path: Path, brand: str, message: str) -> None:
    error = brand_error(tmp_path, brand)
    assert error.startswith("invalid configuration: tenants.acme.brand.")
    assert message in error


def test_a_missing_or_oversized_brand_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "brand/acme/logo.png"
    assert brand_error(tmp_path, "logo = 'brand/acme/logo.png'") == (
        f"tenants.acme.brand.logo: file not found: {missing}"
    )
    missing.parent.mkdir(parents=True)
    missing.write_bytes(b"\0" * (512 * 1024 + 1))
    assert brand_error(tmp_path, "avatar = 'brand/acme/logo.png'") == (
        f"tenants.acme.brand.avatar: {missing} is larger than 524288 bytes"
    )


def test_root_redirect_must_be_an_absolute_https_url() -> None:
    for bad in ("http://example.com", "/elsewhere", "https://", "https://a b.example"):
        with pytest.raises(ConfigError, match=r"server\.root_redirect: .*absolute https://"):
            build_config({"server": {"root_redirect": bad}}, root=ROOT, environ={})


def branded(**brand: Any) -> dict[str, Any]:
    """A tenant section with its brand files from tests/support/brand."""
    files = {"logo": str(BRAND_FILES / "logo.svg"), "avatar": str(BRAND_FILES / "avatar.svg")}
    return {"name": "Branded", "locale": "en", "brand": {**files, **brand}}


async def test_the_tenant_info_carries_the_brand(start_client: StartClient) -> None:
    slug = f"b-{uuid.uuid4().hex[:12]}"
    section = branded(accent="#ffd23f", bot_name="Ada", quick_replies=["Prices?"], theme="auto")
    client = await start_client(tenants={slug: section})
    body = await (await client.get(f"/api/v1/tenants/by-slug/{slug}")).json()
    stat = (BRAND_FILES / "logo.svg").stat()
    assert body["brand"] == {
        "accent": "#ffd23f",
        "accent_text": "#1c1f24",  # the dark text reads on yellow, white would not
        "bot_name": "Ada",
        "logo_url": f"/{slug}/brand/logo?v={stat.st_mtime_ns:x}-{stat.st_size:x}",
        "avatar_url": body["brand"]["avatar_url"],
        "quick_replies": ["Prices?"],
        "theme": "auto",
    }
    assert body["brand"]["avatar_url"].startswith(f"/{slug}/brand/avatar?v=")


async def test_brand_files_are_served_with_caching(start_client: StartClient) -> None:
    slug = f"b-{uuid.uuid4().hex[:12]}"
    client = await start_client(tenants={slug: branded()})
    response = await client.get(f"/{slug}/brand/logo?v=1")
    assert response.status == 200
    assert await response.read() == (BRAND_FILES / "logo.svg").read_bytes()
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == SVG_POLICY
    assert "script" not in SVG_POLICY and "sandbox" in SVG_POLICY
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    again = await client.get(f"/{slug}/brand/logo", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    since = await client.get(f"/{slug}/brand/logo", headers={"If-Modified-Since": modified})
    assert since.status == 304
    assert (await client.get(f"/{slug}/brand/avatar")).status == 200


async def test_only_the_two_brand_files_are_served(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    slug = f"b-{uuid.uuid4().hex[:12]}"
    client = await start_client(tenants={slug: branded()})
    for path in (
        "brand/favicon",
        "brand/logo.svg",
        "brand/..%2f..%2fconfig.toml",
        "brand/%2e%2e/%2e%2e/config.toml",
        "brand/../../config.toml",
        "brand/",
    ):
        response = await client.get(f"/{slug}/{path}")
        assert response.status == 404, path
        assert b"<svg" not in await response.read()
    # A stored path is checked again: no file of a type outside the allow-list is served.
    sneaky = await new_tenant(brand={"logo": str(ROOT / "config.toml")})
    assert (await client.get(f"/{sneaky.slug}/brand/logo")).status == 404
    plain = await new_tenant()
    assert (await client.get(f"/{plain.slug}/brand/logo")).status == 404


async def test_the_brand_stylesheet_sets_the_accent(
    start_client: StartClient, new_tenant: NewTenant
) -> None:
    slug = f"b-{uuid.uuid4().hex[:12]}"
    client = await start_client(tenants={slug: branded(accent="#0b6e4f", bot_name='Ada "A\\"')})
    response = await client.get(f"/{slug}/brand.css")
    assert response.status == 200 and response.content_type == "text/css"
    assert response.headers["Cache-Control"] == "no-cache"
    css = await response.text()
    assert "--accent: #0b6e4f;\n  --accent-text: #ffffff;" in css
    assert "--link: light-dark(#0b6e4f, #9dbaff);" in css  # too dark to read on dark grey
    # The bot's name as a CSS string: everything but letters, digits, spaces escaped.
    assert 'content: "Ada \\000022A\\00005c\\000022" / "";' in css
    assert f'background-image: url("/{slug}/brand/avatar?v=' in css
    again = await client.get(
        f"/{slug}/brand.css", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status == 304
    plain = await new_tenant()
    assert "--accent" not in await (await client.get(f"/{plain.slug}/brand.css")).text()


async def test_a_malformed_stored_brand_is_ignored_whole(
    client: Client, new_tenant: NewTenant
) -> None:
    """Settings written around the config file (by hand, an old release) never reach the
    stylesheet or the pages unchecked."""
    tenant = await new_tenant(
        brand={"accent": "#fff; } body { display: none", "bot_name": "Ada", "theme": "dark"}
    )
    css = await (await client.get(f"/{tenant.slug}/brand.css")).text()
    assert "display" not in css and "Ada" not in css
    info = await (await client.get(f"/api/v1/tenants/by-slug/{tenant.slug}")).json()
    assert info["brand"]["accent"] is None and info["brand"]["theme"] == "light"
    page = await (await client.get(f"/{tenant.slug}/chat")).text()
    assert 'data-theme="light"' in page


async def test_pages_link_the_brand(start_client: StartClient) -> None:
    slug = f"b-{uuid.uuid4().hex[:12]}"
    section = branded(quick_replies=["Prices?", "<b>Open</b> hours?"], theme="dark")
    client = await start_client(tenants={slug: section})
    page = await (await client.get(f"/{slug}/chat")).text()
    assert '<html lang="en" data-theme="dark">' in page
    assert f'<link rel="stylesheet" href="/{slug}/brand.css">' in page
    assert f'<img class="logo" src="/{slug}/brand/logo?v=' in page
    assert '<button type="button" class="secondary quick-reply">Prices?</button>' in page
    assert "&lt;b&gt;Open&lt;/b&gt; hours?" in page
    assert 'data-max-chars="4000"' in page


async def test_the_widget_script_is_small_and_cached(client: Client) -> None:
    response = await client.get("/widget.js")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = await response.read()
    assert body == WIDGET.read_bytes()
    assert len(body) < WIDGET_BUDGET
    again = await client.get("/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


async def test_the_embedded_chat_talks_only_to_an_allowed_parent(
    client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(allowed_origins=["https://shop.example"])
    chat = f"/{tenant.slug}/chat?embed=1&parent="
    page = await (await client.get(chat + "https%3A%2F%2Fshop.example")).text()
    assert 'data-embed="1" data-parent-origin="https://shop.example"' in page
    assert 'id="close-embed"' in page
    for parent in ("https%3A%2F%2Fevil.example", "*", "https%3A%2F%2Fshop.example%22x"):
        page = await (await client.get(chat + parent)).text()
        assert 'data-embed="1" data-parent-origin=""' in page, parent
    page = await (await client.get(f"/{tenant.slug}/chat")).text()
    assert "data-embed" not in page and "close-embed" not in page


async def test_the_first_page_lists_the_chats_in_development(
    client: Client, new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    page = await response.text()
    assert f'<a href="/{tenant.slug}/chat">{tenant.name}</a>' in page
    assert '<a href="/demo/chat">Demo</a>' in page


@pytest.fixture
def production(make_config: MakeConfig) -> Any:
    def make(**server: Any) -> Any:
        return make_config(server={"mode": "production", **server}, smtp={"host": "127.0.0.1"})

    return make


async def test_the_first_page_in_production_is_neutral_or_a_redirect(
    aiohttp_client: Any, production: Any
) -> None:
    neutral: TestClient[Any, Any] = await aiohttp_client(create_app(production()))
    response = await neutral.get("/")
    assert response.status == 200
    assert "/demo/chat" not in await response.text()
    target = "https://www.example.com/about"
    moved: TestClient[Any, Any] = await aiohttp_client(create_app(production(root_redirect=target)))
    response = await moved.get("/", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == target


async def test_serve_says_where_to_chat(
    make_process_server: Callable[..., ProcessServer],
) -> None:
    server = make_process_server()
    await server.start()
    assert f"chat at {server.url}/faults/chat; every tenant's chat page: {server.url}/" in (
        server.log
    )
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/") as response:
        assert '<a href="/faults/chat">Faults</a>' in await response.text()
