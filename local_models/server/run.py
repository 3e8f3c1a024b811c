"""`run_server(settings)`: load the model, then serve it with uvicorn until interrupted."""

from __future__ import annotations

import socket
import sys

from local_models.errors import ModelError
from local_models.server.settings import ServerSettings


class AddressInUseError(ModelError):
    """The host/port to serve on cannot be bound."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def run_server(settings: ServerSettings, *, sock: socket.socket | None = None) -> None:
    """Blocking. `sock` is an already bound socket to serve on (used by `local_models.serve`)."""
    import uvicorn

    from local_models.server.app import create_app

    if sock is None:  # bind before the (slow) model load, so a taken port fails at once
        try:
            sock = bind(settings.host, settings.port)
        except OSError as exc:
            raise AddressInUseError(
                f"Cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}). "
                "Is another server running there? Pick another port with --port (0: any free port)."
            ) from exc
    app = create_app(settings)  # loads the weights before serving: /health answers once the model is ready
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {settings.model} at http://{shown}:{port}/v1", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app, log_level=settings.log_level, timeout_graceful_shutdown=3, lifespan="on", access_log=False
    )
    uvicorn.Server(config).run(sockets=[sock])
