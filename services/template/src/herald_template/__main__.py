"""`herald-template [--host H] [--port P]`: run the template service in the foreground (default port 8002)."""

from __future__ import annotations

from herald_common.serve import serve
from herald_template.app import create_app
from herald_template.config import Settings

DEFAULT_PORT = 8002


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    serve("template", lambda: create_app(settings), settings, DEFAULT_PORT, argv)


if __name__ == "__main__":
    main()
