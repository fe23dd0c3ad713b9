"""Which addresses a webhook may reach (pure): the check the transport makes on every address a
destination's host resolves to, at connect time.

Always refused: unspecified (0.0.0.0, ::), multicast, link-local (169.254.0.0/16 holds the cloud
metadata service; fe80::/10) and reserved addresses. Loopback and private addresses (RFC 1918,
unique-local, CGNAT 100.64.0.0/10, documentation ranges: anything not globally routable) are
refused unless NOTIFY_ALLOW_PRIVATE_DESTINATIONS allows them. An IPv6 address that carries an
IPv4 one (IPv4-mapped, 6to4, the NAT64 well-known prefix) is judged by the IPv4 address.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for, if it carries one; else `ip`."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _always_refused(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip.is_reserved and not ip.is_loopback:
        return "reserved"
    return None


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a webhook may not connect to `address` (an IP address as text), or None."""
    try:
        ip = embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return f"{address!r} is not an IP address"
    kind = _always_refused(ip)
    if kind is not None:
        return f"{ip} is a {kind} address"
    if ip.is_global or allow_private:
        return None
    kind = "loopback" if ip.is_loopback else "private"
    return f"{ip} is a {kind} address (NOTIFY_ALLOW_PRIVATE_DESTINATIONS is off)"


def first_refusal(addresses: list[str], *, allow_private: bool) -> str | None:
    """A host is refused if any address it resolves to is: which one a connection would use is
    not ours to pick (and a name that also points inside is a rebinding attempt)."""
    if not addresses:
        return "the host resolves to no address"
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            return reason
    return None
