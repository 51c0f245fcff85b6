"""`herald-emulator`: the embedded AWS emulator in the foreground (moto in-process plus Herald's additions)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

import structlog

from herald_common.logging import configure_logging
from herald_common.provisioning import provision_sync
from herald_common.settings import HeraldSettings
from herald_emulator.server import Emulator

log = structlog.get_logger("herald.emulator")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="herald-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--prefix", default=os.environ.get("HERALD_RESOURCE_PREFIX", "herald"))
    parser.add_argument("--identity", action="append", help="SES identity to verify (repeatable; default example.com)")
    parser.add_argument("--no-provision", action="store_true", help="start empty; do not provision the prefix")
    parser.add_argument(
        "--provision-only",
        action="store_true",
        help="do not start an emulator: provision the prefix at --endpoint (e.g. LocalStack) and exit",
    )
    parser.add_argument("--endpoint", help="with --provision-only: the AWS endpoint URL (default AWS_ENDPOINT_URL)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    configure_logging(json=False, level=os.environ.get("HERALD_LOG_LEVEL", "INFO"))
    identities = tuple(args.identity or ("example.com",))
    if args.provision_only:
        overrides: dict[str, Any] = {"resource_prefix": args.prefix}
        if args.endpoint:
            overrides["aws_endpoint_url"] = args.endpoint
        provision_sync(HeraldSettings(**overrides), identities=identities)
        return

    emulator = Emulator(args.host, args.port, prefix=None if args.no_provision else args.prefix, identities=identities)
    emulator.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        emulator.provision()
        log.info("emulator.ready", url=emulator.url, prefix=emulator.prefix)
        print(f"herald-emulator listening on {emulator.url}", flush=True)
        stop.wait()
    finally:
        emulator.stop()
        log.info("emulator.stopped")


if __name__ == "__main__":
    main()
