"""Running as a service: who may reach the admin API.

On a loopback address only this machine reaches the server, so the admin API may be open. Bound
beyond it (a container, `0.0.0.0`), anyone who reaches the port could rewrite the rules: the server
refuses to start with the admin API on and no `admin_token`.
"""
from __future__ import annotations

from typing import Any


def is_loopback(host: str) -> bool:
    """True for `localhost` and addresses in 127.0.0.0/8 or ::1 (a wildcard address is not)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1", "[::1]"):
        return True
    import ipaddress  # any other address: loaded only then (a server start need not)

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(options: Any) -> None:
    """`ValueError` when the admin API would be reachable beyond this machine without a token."""
    if options.admin_token is not None and (not isinstance(options.admin_token, str) or not options.admin_token):
        raise ValueError("admin_token must be a non-empty string")
    if options.admin and not options.admin_token and not is_loopback(str(options.host)):
        raise ValueError(f"refusing to serve the admin API on {options.host} without a token: "
                         "set --admin-token (admin_token) or turn it off with --no-admin (admin=False)")
