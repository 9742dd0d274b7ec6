"""The SSRF guard: which addresses a fetch may connect to.

A link dropped in chat must not reach the owner's router, a cloud metadata endpoint or a
service on loopback (which addresses are refused: ingest/addresses.py). aiohttp has two
paths to a socket, so there are two checkpoints: hostnames go through `GuardedResolver`
(every resolved address is checked, and aiohttp only connects to what the resolver
returned, so DNS rebinding cannot slip in between check and connect); IP-literal hosts
skip the resolver, so the fetcher checks those itself per hop. `guarded_socket_factory`
is the backstop under both: it refuses to create a socket for a refused address, so a bug
in either checkpoint still cannot open a connection.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from ingest.addresses import (
    ALLOW_HINT,
    AddressPolicy,
    IPAddress,
    is_localhost_name,
    literal_ip,
    refusal_reason,
)

__all__ = [
    "ALLOW_HINT",
    "AddressPolicy",
    "BlockedAddressError",
    "GuardedResolver",
    "IPAddress",
    "guarded_socket_factory",
    "literal_ip",
    "refusal_reason",
]

_LOCALHOST_RESULTS = (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6))


class BlockedAddressError(OSError):
    """Raised by the resolver; an OSError so aiohttp wraps it like any lookup failure
    (`ClientConnectorDNSError.os_error`), and the fetcher turns it into a FetchError."""

    def __init__(self, host: str, ip: str, kind: str) -> None:
        super().__init__(f"{host} resolves to {kind} address {ip}, which is refused")
        self.host, self.ip, self.kind = host, ip, kind


def guarded_socket_factory(policy: AddressPolicy) -> Callable[[AddrInfoType], socket.socket]:
    """For `TCPConnector(socket_factory=...)`: called with the exact address about to be
    connected to, whichever path produced it."""

    def make_socket(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, address = addr_info
        ip = str(address[0])
        kind = policy.refusal(ip)
        if kind is not None:
            raise BlockedAddressError(ip, ip, kind)
        return socket.socket(family=family, type=type_, proto=proto)

    return make_socket


class GuardedResolver(AbstractResolver):
    """Wraps a resolver (the threaded default) and fails the lookup if ANY address it
    returns is refused: connecting to "the good one" would let a hostile DNS answer pick."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        if name == "invalid" or name.endswith(".invalid"):
            # RFC 6761: never resolvable, so answer without sending a query anywhere.
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if is_localhost_name(name):
            # RFC 6761: always loopback, whatever DNS or /etc/hosts would say.
            results = [
                _result(host, ip, port, fam)
                for ip, fam in _LOCALHOST_RESULTS
                if family in (socket.AF_UNSPEC, fam)
            ]
        else:
            if self._inner is None:  # created here: it binds the running loop
                self._inner = ThreadedResolver()
            results = await self._inner.resolve(host, port, family)
        for result in results:
            kind = self._policy.refusal(result["host"])
            if kind is not None:
                raise BlockedAddressError(host, result["host"], kind)
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def _result(host: str, ip: str, port: int, family: int) -> ResolveResult:
    flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    return ResolveResult(hostname=host, host=ip, port=port, family=family, proto=0, flags=flags)
