"""The plain-text part, generated from the rendered HTML when a template has no text part of its own.

Mail clients that show text (and spam filters that compare both parts) expect the same words and the same links:
tags are dropped, `<a href>` targets are kept after their label, block elements start new lines, scripts and styles
disappear, whitespace is collapsed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot",
        "th", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
_HIDDEN_TAGS = frozenset({"script", "style", "head", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self, tick: Callable[[], None]) -> None:
        super().__init__(convert_charrefs=True)
        self._tick = tick
        self._parts: list[str] = []
        self._hidden = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tick()
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")
        if tag == "a":
            href = dict(attrs).get("href")
            self._links.append(href.strip() if href else None)
        elif tag == "img" and not self._hidden:
            alt = dict(attrs).get("alt")
            if alt:
                self._parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        self._tick()
        if tag in _HIDDEN_TAGS:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith(("#", "javascript:")) and not self._hidden:
                self._parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self._tick()
        if not self._hidden:
            self._parts.append(data)

    def text(self) -> str:
        lines = (_SPACES.sub(" ", line).strip() for line in "".join(self._parts).replace("\r\n", "\n").split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str, tick: Callable[[], None] = lambda: None) -> str:
    """Readable plain text for `html`; `tick` is called often so a render deadline also covers this step."""
    parser = _TextExtractor(tick)
    parser.feed(html)
    parser.close()
    return parser.text()
