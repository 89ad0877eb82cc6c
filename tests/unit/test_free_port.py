"""Server ports come from below the ephemeral range, where outgoing connections cannot take them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tickstream.infra import ports
from tickstream.infra.ports import LOWEST_SERVER_PORT, free_port


def test_free_ports_are_bindable_and_below_the_ephemeral_range() -> None:
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1  # chosen at random, not one fixed port
    for port in ports:
        assert LOWEST_SERVER_PORT <= port < max(ephemeral_start, LOWEST_SERVER_PORT + 1_000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        used = taken.getsockname()[1]
        spare = free_port()
        draws = iter([used, used, spare])
        monkeypatch.setattr(ports.random, "randrange", lambda *_: next(draws))
        assert free_port() == spare
