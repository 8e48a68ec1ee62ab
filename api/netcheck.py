"""Django-free: is a callback URL safe to call from the server (http(s), and only public addresses)?"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(Exception):
    pass


def check_callback_url(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeUrl unless the URL is http(s) and every address its host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("The callback URL must be an http or https URL with a host name.")
    if parts.username or parts.password:
        raise UnsafeUrl("The callback URL must not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError) as exc:
        raise UnsafeUrl("The callback URL's host name does not resolve.") from exc
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl("The callback URL resolves to a private, loopback or link-local address.")
