"""Shared helpers of the retrieval tests (imported by name: a test must never import `conftest`)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
