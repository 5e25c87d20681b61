"""Choosing the TCP ports of the demo stack on 127.0.0.1."""

from __future__ import annotations

import socket

# The runbook's ports; a port that is taken is replaced by a free one.
PREFERRED = {
    "backend": 5000,
    "frontend": 3000,
    "db": 5432,
    "nginx": 8080,
    "nginx_tls": 8443,
}
# Internal ports of the health CGI behind nginx in the backend and frontend.
INTERNAL = ("backend_cgi", "frontend_cgi")


def is_free(port: int) -> bool:
    """Tell whether a TCP port can be bound on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers bind with SO_REUSEADDR, so connections left in TIME_WAIT by a
        # stopped server do not make its port busy for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(chosen: set[int]) -> int:
    """Return a port on 127.0.0.1 that the kernel reports free and no one else chose."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in chosen:
            return port


def choose_ports() -> dict[str, int]:
    """Choose every port of the stack: the runbook's where free, else a free one."""
    chosen: dict[str, int] = {}
    for name, port in PREFERRED.items():
        chosen[name] = port if is_free(port) else free_port(set(chosen.values()))
    for name in INTERNAL:
        chosen[name] = free_port(set(chosen.values()))
    return chosen
