"""moto's WSGI app wrapped in Herald's middleware, served by uvicorn on a background thread.

werkzeug's development server (moto's own) closes the connection after every response and starts a thread per
connection, so every AWS call paid a TCP handshake and a thread start on both sides. uvicorn keeps connections
alive and runs the WSGI app on a bounded pool of threads (a2wsgi), which roughly doubles the calls per second the
emulator serves. The pool is large because SQS long polls hold a thread for up to 20 s each.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import uvicorn
from a2wsgi import WSGIMiddleware
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from herald_common.provisioning import Provisioned, provision_sync
from herald_common.settings import HeraldSettings
from herald_emulator import moto_routes, moto_speedups
from herald_emulator.middleware import EmulatorMiddleware

if TYPE_CHECKING:
    from collections.abc import Sequence


# Threads for moto's WSGI app: SQS long polls (up to 20 s) each hold one, so leave plenty for everything else.
WSGI_THREADS = 64


class Emulator:
    """One in-process emulator. `start()` returns once it accepts connections; `stop()` shuts it down."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        *,
        prefix: str | None = None,
        identities: Sequence[str] = ("example.com",),
    ) -> None:
        moto_speedups.apply()
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.prefix = prefix
        self.identities = tuple(identities)
        dispatcher = DomainDispatcherApplication(moto_routes.create_app)
        moto_routes.prepare(dispatcher)  # before serving: several first requests building them at once crash
        self.middleware = EmulatorMiddleware(dispatcher, after_reset=self._reprovision)

    @property
    def url(self) -> str:
        assert self._socket is not None, "call start() first"
        host, port = self._socket.getsockname()[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        # Bind here, not in uvicorn, so `url` is known (port 0 included) before the server thread runs.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self._host, self._port))
        self._socket.listen(1024)
        config = uvicorn.Config(
            WSGIMiddleware(self.middleware, workers=WSGI_THREADS),  # type: ignore[arg-type]
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="herald-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        self.middleware.start()
        if self.prefix is None:
            self.middleware.ready.set()
        return self

    def stop(self) -> None:
        self.middleware.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def provision(self) -> Provisioned | None:
        """Provision `prefix` (if one was given) through the emulator's own endpoint, as any client would."""
        if self.prefix is None:
            return None
        settings = HeraldSettings(resource_prefix=self.prefix, aws_endpoint_url=self.url)
        provisioned = provision_sync(settings, identities=self.identities)
        self.middleware.ready.set()
        return provisioned

    def _reprovision(self) -> None:
        self.provision()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(host: str = "127.0.0.1", port: int = 4566) -> Emulator:
    """Start a plain emulator (no provisioning) and return it running."""
    return Emulator(host, port).start()
