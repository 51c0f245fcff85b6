"""`herald-analytics [--host H] [--port P]`: the analytics service in the foreground (default port 8003)."""

from __future__ import annotations

from herald_analytics.app import create_app
from herald_analytics.config import Settings
from herald_common.serve import serve

DEFAULT_PORT = 8003


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    serve("analytics", lambda: create_app(settings), settings, DEFAULT_PORT, argv)


if __name__ == "__main__":
    main()
