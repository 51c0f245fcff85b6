"""moto's WSGI app wrapped in Herald's middleware, served by werkzeug on a background thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from herald_common.emulator import moto_speedups
from herald_common.emulator.middleware import EmulatorMiddleware
from herald_common.provisioning import Provisioned, provision_sync
from herald_common.settings import HeraldSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from werkzeug.serving import BaseWSGIServer


class _QuietRequestHandler(MotoRequestHandler):
    # One log line per AWS call drowns everything else in `make dev`; errors are still reported.
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


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
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.prefix = prefix
        self.identities = tuple(identities)
        self.middleware = EmulatorMiddleware(
            DomainDispatcherApplication(create_backend_app), after_reset=self._reprovision
        )

    @property
    def url(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        self._server = make_server(
            self._host, self._port, self.middleware, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="herald-emulator", daemon=True)
        self._thread.start()
        self.middleware.start()
        if self.prefix is None:
            self.middleware.ready.set()
        return self

    def stop(self) -> None:
        self.middleware.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

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
