"""`herald-processor [--host H] [--port P]`: the email processor in the foreground (health and metrics on 8004)."""

from __future__ import annotations

from herald_common.serve import serve
from herald_processor.app import create_app
from herald_processor.config import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    serve("processor", lambda: create_app(settings), settings, 8004, argv)


if __name__ == "__main__":
    main()
