"""Console-script entry points: `herald-<service> [--host H] [--port P]` runs one service in the foreground.

`HERALD_HOST` and `HERALD_PORT`, when set, replace the defaults (127.0.0.1 and the service's SPEC port): the images
set them, so the container's entrypoint and its health check agree on one port.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import uvicorn

from herald_common.logging import configure_logging

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from herald_common.settings import HeraldSettings


def serve(
    name: str,
    create_app: Callable[[], FastAPI],
    settings: HeraldSettings,
    default_port: int,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"herald-{name}", description=f"Run the Herald {name} service.")
    parser.add_argument("--host", default=os.environ.get("HERALD_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HERALD_PORT") or default_port))
    args = parser.parse_args(argv)
    configure_logging(json=settings.json_logs, level=settings.log_level)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=25,
        lifespan="on",
    )
