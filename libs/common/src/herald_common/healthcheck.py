"""`python -m herald_common.healthcheck`: the container health probe of the service images.

Exits 0 when the service in this container answers 200 on `/healthz` at `127.0.0.1:$HERALD_PORT`, 1 otherwise.
Slim images carry no curl, and the same command serves Docker's HEALTHCHECK, compose and the ECS task definitions.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    port = os.environ.get("HERALD_PORT", "")
    if not port.isdigit():
        print("HERALD_PORT is not set to the service's port", file=sys.stderr)
        return 1
    return 0 if healthy(int(port)) else 1


if __name__ == "__main__":
    sys.exit(main())
