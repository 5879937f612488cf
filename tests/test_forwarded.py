"""The client's address behind trusted proxies: `X-Forwarded-For` read from the right, only
as far as trusted proxies wrote it; `[server] trusted_proxies` from the file or the
environment. (Through a real nginx: tests/test_scale_out.py.)"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from cip.config import ConfigError, build_config
from cip.http.forwarded import client_address

PROXIES = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1"), ip_network("::1"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # No trusted proxy in front: the peer, whatever the header says.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        ("203.0.113.7", [], "203.0.113.7"),
        # One proxy: the address it appended.
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        # What the client wrote itself stands left of that, and is never reached.
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two header fields
        # Two trusted proxies in a row: the entry the outer one appended.
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        # A chain of trusted proxies only: the leftmost of them.
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
        # A trusted proxy that sent no header: the proxy itself.
        ("127.0.0.1", [], "127.0.0.1"),
        # An entry that is no address stops the walk at the last hop known.
        ("127.0.0.1", ["198.51.100.1, bogus, 10.1.2.3"], "10.1.2.3"),
        ("127.0.0.1", ["198.51.100.1:4711"], "127.0.0.1"),
        ("127.0.0.1", [""], "127.0.0.1"),
        # IPv6, and IPv4 written as IPv6 by a dual-stack socket.
        ("::1", ["2001:db8:0:0::1"], "2001:db8::1"),
        ("::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("::ffff:203.0.113.7", ["198.51.100.1"], "::ffff:203.0.113.7"),
        # A peer that is no address (a Unix socket) is left as it is.
        ("unknown", ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_behind_trusted_proxies(
    peer: str, forwarded_for: list[str], client: str
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_nobody_is_trusted_by_default(tmp_path: Path) -> None:
    config = build_config({}, root=tmp_path, environ={})
    assert config.server.trusted_proxies == ()
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_trusted_proxies_from_the_file_or_the_environment(tmp_path: Path) -> None:
    raw = {"server": {"trusted_proxies": ["127.0.0.1", "172.30.0.0/16"]}}
    from_file = build_config(raw, root=tmp_path, environ={}).server.trusted_proxies
    assert from_file == (ip_network("127.0.0.1/32"), ip_network("172.30.0.0/16"))
    environ = {"TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,"}
    from_environment = build_config(raw, root=tmp_path, environ=environ).server.trusted_proxies
    assert from_environment == (ip_network("10.0.0.0/8"), ip_network("::1/128"))


@pytest.mark.parametrize("value", ["nginx", "10.0.0.1/8", "300.1.1.1"])
def test_a_trusted_proxy_must_be_an_address_or_a_network(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid configuration: server\.trusted_proxies\.0"):
        build_config({}, root=tmp_path, environ={"TRUSTED_PROXIES": value})
