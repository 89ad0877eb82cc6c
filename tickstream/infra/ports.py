"""TCP ports for the servers the project starts on loopback."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Servers get ports from here up to the start of the kernel's ephemeral range.
LOWEST_SERVER_PORT = 10_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses right now, below the kernel's ephemeral range.

    A port from that range (what binding port 0 returns) can be taken by any outgoing connection
    between this check and the server's own bind; a load test opening thousands of connections
    made a broker fail to start with "Address already in use" that way.
    """
    ceiling = _ephemeral_start()
    for _ in range(200):
        port = random.randrange(LOWEST_SERVER_PORT, ceiling)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded machine
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_start() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return max(low, LOWEST_SERVER_PORT + 1_000)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
