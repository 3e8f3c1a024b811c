"""`run_server(settings)`: load the model, then serve it with uvicorn until interrupted.

On SIGTERM or SIGINT the engine is stopped first (`app.state.begin_shutdown`: the running generation
ends between tokens, every waiting and running request gets a 503 `server_shutting_down`), and only then
does uvicorn close the connections, so the process exits within about a second even while generating.
"""

from __future__ import annotations

import socket
import sys
from types import FrameType
from typing import Any

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
    _server_class()(config, app.state).run(sockets=[sock])


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping the engine before the graceful wait for open connections."""

        def __init__(self, config: uvicorn.Config, state: Any) -> None:
            super().__init__(config)
            self.state = state

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.state.begin_shutdown()
            super().handle_exit(sig, frame)

    return Server
