"""Checks on user-given download URLs: http(s) only, and no literal private, loopback or metadata address.

Only the URL text is checked here; a host name is resolved when the data is downloaded, and the download
(the tuning job) must check the resolved addresses again, since DNS can point anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud instance-metadata endpoints reachable from a pod; never a place to fetch training data from.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("100.100.100.200"),
     ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("168.63.129.16")}
)  # fmt: skip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def literal_address(host: str) -> IPAddress | None:
    """The IP address a host string denotes without DNS: dotted, bracketed IPv6, or the legacy
    integer/octal/hex IPv4 forms (`2130706433`, `0x7f.1`) that C resolvers still accept."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if bare and all(ch in "0123456789abcdefxABCDEFX." for ch in bare) and bare[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why a pod must not be sent to `address`, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "is a cloud instance-metadata address"
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_private:
        return "is a private-network address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "is not a routable unicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "is a carrier-grade NAT (shared) address"
    return None


def url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why `url` is not an acceptable http(s) download URL, or None."""
    if not url or url != url.strip() or any(ch.isspace() for ch in url):
        return "must be an http:// or https:// URL without whitespace"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"must use http or https, not {parts.scheme or 'no scheme'!r}"
    if not host:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials in the URL; they would be visible to anyone who can read it"
    if allow_private:
        return None
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return f"host {host!r} is the loopback host; use an address reachable from the cluster's pods"
    if lowered in METADATA_HOSTS:
        return f"host {host!r} is a cloud instance-metadata endpoint, which kaito never downloads from"
    address = literal_address(lowered)
    if address is not None:
        problem = address_problem(address)
        if problem:
            return f"host {host!r} {problem}; training data must come from a public http(s) address"
    return None
