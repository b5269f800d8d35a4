"""Keeps downloads away from private, loopback, link-local and cloud-metadata addresses.

Names are checked after resolution, inside the resolver the HTTP connector uses: the connection goes to
exactly the addresses that were checked, so a DNS answer that changes between check and connect (DNS
rebinding) cannot slip through. Literal IP hosts never reach a resolver and are checked by `check_url`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from kaito.validation.urls import (
    METADATA_ADDRESSES,
    METADATA_HOSTS,
    IPAddress,
    address_problem,
    literal_address,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port, family) -> [(family, address)]: what the system resolver answers.
Lookup = Callable[[str, int, int], Awaitable[list[tuple[int, str]]]]


class ForbiddenAddressError(ValueError):
    """The URL leads to an address training data must never come from."""


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses only, except networks explicitly allowed (a local cluster's own network)."""

    allowed_networks: tuple[Network, ...] = field(default=())

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def problem(self, address: IPAddress) -> str | None:
        if address in METADATA_ADDRESSES:
            return "is a cloud instance-metadata address"  # never allowed, whatever the networks say
        if any(address.version == net.version and address in net for net in self.allowed_networks):
            return None
        return address_problem(address)


def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse non-http(s) URLs, credentials in URLs, metadata host names and forbidden literal IPs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenAddressError(f"{url}: only http and https URLs are fetched, not {parts.scheme!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise ForbiddenAddressError(f"{url}: the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ForbiddenAddressError(f"{url}: credentials in URLs are refused")
    if host in METADATA_HOSTS:
        raise ForbiddenAddressError(f"{url}: {host} is a cloud instance-metadata endpoint")
    address = literal_address(host)
    if address is not None:
        problem = policy.problem(address)
        if problem:
            raise ForbiddenAddressError(f"{url}: {host} {problem}")


async def system_lookup(host: str, port: int, family: int) -> list[tuple[int, str]]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(info[0], str(info[4][0])) for info in infos]


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that answers only with checked addresses, and refuses a host with any bad one."""

    def __init__(self, policy: AddressPolicy, lookup: Lookup = system_lookup) -> None:
        self._policy = policy
        self._lookup = lookup

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise ForbiddenAddressError(f"{host} is a cloud instance-metadata endpoint")
        try:
            answers = await self._lookup(host, port, family)
        except OSError as err:
            raise ForbiddenAddressError(f"cannot resolve {host}: {err}") from err
        results: list[ResolveResult] = []
        for address_family, text in answers:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            problem = self._policy.problem(address)
            if problem:
                # One bad answer taints the name: a public + private mix is the shape of a rebinding attack.
                raise ForbiddenAddressError(f"{host} resolves to {address}, which {problem}")
            results.append(
                ResolveResult(
                    hostname=host,
                    host=text,
                    port=port,
                    family=address_family,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        if not results:
            raise ForbiddenAddressError(f"{host} resolves to no address")
        return results

    async def close(self) -> None:
        return None
