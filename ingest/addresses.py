"""Which addresses a fetch may connect to: the SSRF guard's rules, without the network
stack (so the command line can refuse a link before it loads anything; ingest/ssrf.py
applies them where aiohttp resolves and connects)."""

from __future__ import annotations

import ipaddress

from core.errors import ConfigError, FetchError

__all__ = [
    "ALLOW_HINT",
    "AddressPolicy",
    "IPAddress",
    "is_localhost_name",
    "literal_ip",
    "refusal_reason",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_HINT = "set ingest.allow_private_networks to allow"
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT; not is_private in 3.11
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated, but routers still honour it
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # embeds an IPv4 target in the low 32 bits


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 form tunnels to (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind(ip: IPAddress) -> str | None:
    """Why `ip` is not public ("loopback", "private", ...), or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            kind = _kind(inner)
            if kind is not None:
                return f"IPv6-wrapped {kind}"
        if ip.ipv4_mapped is not None or ip in _NAT64:
            return None  # only the IPv4 inside is ever reached, and it is public
        if ip in _SITE_LOCAL:
            return "site-local"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


class AddressPolicy:
    """Refuses every non-public address unless private networks are allowed as a whole
    or the address lies in one of `allowed_networks` (tests allow exactly 127.0.0.1/32)."""

    def __init__(
        self, allow_private_networks: bool = False, allowed_networks: tuple[str, ...] = ()
    ) -> None:
        self.allow_private_networks = allow_private_networks
        try:
            self.allowed_networks = tuple(
                ipaddress.ip_network(net, strict=False) for net in allowed_networks
            )
        except ValueError as exc:
            raise ConfigError(
                f"ingest.allowed_networks: {exc}; expected CIDR blocks such as 10.0.0.0/8"
            ) from None

    def refusal(self, ip: str) -> str | None:
        """Why `ip` is refused ("loopback", ...), or None when it may be contacted."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return "unparseable"
        if self.allow_private_networks:
            return None
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            candidates += _embedded_ipv4(address)
        for net in self.allowed_networks:
            if any(c.version == net.version and c in net for c in candidates):
                return None
        return _kind(address)

    def check(self, ip: str, host: str, url: str, *, redirect_to: str | None = None) -> None:
        """Raise FetchError(url, ...) when `ip` (what `host` resolved to) is refused."""
        kind = self.refusal(ip)
        if kind is not None:
            raise FetchError(url, refusal_reason(ip, host, kind, redirect_to))


def refusal_reason(ip: str, host: str, kind: str, redirect_to: str | None = None) -> str:
    article = "an" if kind[0] in "aeiouIU" else "a"
    where = f"{article} {kind} address {ip}"
    if literal_ip(host) is None:
        where = f"host '{host}', which resolves to {where},"
    if redirect_to is not None:
        return f"redirect to {where} refused ({redirect_to}; {ALLOW_HINT})"
    return f"connection to {where} refused ({ALLOW_HINT})"


def literal_ip(host: str) -> str | None:
    """The host as an IP address string when it is a literal (brackets stripped)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).compressed
    except ValueError:
        return None


def is_localhost_name(host: str) -> bool:
    """RFC 6761: `localhost` and `*.localhost` are loopback, whatever DNS would say."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")
