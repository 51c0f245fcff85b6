"""The small HTML pages of the public unsubscribe link. Everything interpolated is escaped."""

from __future__ import annotations

from html import escape

# The token is in the URL: no referrer leaves the page, nothing is cached, nothing loads from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def confirm_page(email: str) -> str:
    """Asks before unsubscribing: link scanners and prefetchers follow GETs, so only the POST unsubscribes."""
    body = (
        f"<p>Stop receiving these emails at <strong>{escape(email)}</strong>?</p>"
        '<form method="post"><button type="submit">Unsubscribe</button></form>'
    )
    return _PAGE.format(title="Unsubscribe", body=body)


def done_page(email: str) -> str:
    body = f"<p><strong>{escape(email)}</strong> will not receive these emails any more.</p>"
    return _PAGE.format(title="You are unsubscribed", body=body)
