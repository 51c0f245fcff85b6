"""Starts a Herald stack for the dashboard's browser tests and reports where it is.

Runs the embedded emulator and the four services as real processes on free ports (`herald_cli.stack.DevStack`, as
`herald dev` does), under a resource prefix of its own, then prints one JSON line:
`{"campaign": url, "template": url, "analytics": url, "emulator": url, "marketer": token, "logDir": path}`.
It stops the stack when its standard input closes or it gets SIGTERM/SIGINT.

    .venv/bin/python ui/e2e/stack.py
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import uuid

from herald_cli.stack import DevStack

TENANT = "acme"


def main() -> int:
    stack = DevStack(prefix=f"herald-ui-{uuid.uuid4().hex[:8]}", ports="free")
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    stack.start()
    try:
        urls = stack.urls
        report = {
            "campaign": urls.campaign,
            "template": urls.template,
            "analytics": urls.analytics,
            "emulator": urls.emulator,
            "marketer": stack.token(TENANT, "marketer"),
            "tenant": TENANT,
            "logDir": str(stack.log_dir),
        }
        print(json.dumps(report), flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
