"""moto's request routing, built before the emulator serves and never by two threads at once (moto 5.2.6).

moto builds a service's Flask app and its operation routers (werkzeug URL maps, whose rules werkzeug compiles
through `ast.parse`) on the first request that needs them, on that request's thread; several first requests build
them at once. CPython 3.11 keeps one AST recursion counter per interpreter, so when the garbage collector runs Python
code (a finalizer) in the middle of one thread's `ast.parse` and another thread parses meanwhile, the first fails
with `SystemError: AST constructor recursion depth mismatch`: an ordinary SES send answered 500, on 3 of about 15
stacks started. Hence:
- `prepare(dispatcher)` builds, before the server accepts a connection, the app of every moto backend Herald calls
  and the router of every protocol of its services;
- `apply()` makes any other router (a service Herald does not use) build under one lock, the lock `create_app` (the
  dispatcher's app factory) also builds under, so no two threads are in werkzeug's rule compiling at once.
`ServiceOperationRouter._get_router` and `DomainDispatcherApplication.app_instances` are moto internals: the pin in
pyproject.toml holds moto to the version this was written and tested against.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from moto.core.routing import ServiceOperationRouter, get_router_class, get_service_router
from moto.moto_server.werkzeug_app import create_backend_app

if TYPE_CHECKING:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

# The services Herald calls (botocore names) and the moto backends that serve them ("moto_api": /moto-api/).
HERALD_SERVICES = ("dynamodb", "s3", "sqs", "sns", "ses", "sesv2")
HERALD_BACKENDS = (*HERALD_SERVICES, "moto_api")

_BUILDING = threading.RLock()
_original_get_router = ServiceOperationRouter._get_router
_applied = False


def _get_router(self: ServiceOperationRouter, protocol: str) -> Any:
    router = self._routers.get(protocol)
    if router is not None:
        return router
    with _BUILDING:
        return _original_get_router(self, protocol)  # builds it unless a thread before this one just did


def create_app(service: Any) -> Any:
    """moto's `create_backend_app` (a backend's Flask app, its URL rules compiled), one build at a time."""
    with _BUILDING:
        return create_backend_app(service)


def prepare(dispatcher: DomainDispatcherApplication) -> None:
    """Build the apps and routers of Herald's services now, on this thread, before any request can."""
    apply()
    with dispatcher.lock:
        for backend in HERALD_BACKENDS:
            if backend not in dispatcher.app_instances:
                dispatcher.app_instances[backend] = dispatcher.create_app(backend)  # type: ignore[arg-type]
    for service in HERALD_SERVICES:
        router = get_service_router(service)
        metadata = router._service_model.metadata
        for protocol in metadata.get("protocols") or [metadata["protocol"]]:
            if get_router_class(service, protocol) is not None:
                router._get_router(protocol)


def apply() -> None:
    """Install the lock once per process (moto's routers are process-global)."""
    global _applied
    if _applied:
        return
    ServiceOperationRouter._get_router = _get_router  # type: ignore[method-assign]
    _applied = True
