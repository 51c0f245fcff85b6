"""`herald-campaign [--host H] [--port P]`: the campaign service in the foreground (default port 8001)."""

from __future__ import annotations

from herald_campaign.app import create_app
from herald_campaign.config import Settings
from herald_common.serve import serve

DEFAULT_PORT = 8001


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    serve("campaign", lambda: create_app(settings), settings, DEFAULT_PORT, argv)


if __name__ == "__main__":
    main()
