"""The client's address behind reverse proxies the service trusts (`[server] trusted_proxies`).

A proxy such as nginx (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`) appends
the address it was reached from to the `X-Forwarded-For` it got, so the header's entries are
read from the right: while the hop that added an entry is trusted, that entry is believed.
The first address that is not a trusted proxy is the client; whatever stands left of it was
written by that client and is never reached. A peer that is not trusted is the client itself,
whatever its header says. An entry that is not an address stops the walk at the last hop
known (a trusted proxy's own address, when the chain goes wrong there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client's address from the TCP peer and the `X-Forwarded-For` header fields."""
    client = _address(peer)
    if client is None or not _trusted(client, trusted):
        return peer
    entries = [entry.strip() for field in forwarded_for for entry in field.split(",")]
    for entry in reversed(entries):
        hop = _address(entry)
        if hop is None:
            break
        client = hop
        if not _trusted(hop, trusted):
            break
    return str(client)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)
