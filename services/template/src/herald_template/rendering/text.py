"""The plain-text part, generated from the rendered HTML when a template has no text part of its own.

Mail clients that show text (and spam filters that compare both parts) expect the same words and the same links:
tags are dropped, `<a href>` targets are kept after their label, block elements start new lines, scripts and styles
disappear, whitespace is collapsed.

It runs inside a recipient's render without deadline checks of its own (a check per token cost more than a third of
a render, and could not interrupt a single regex match anyway): the scan is linear in the HTML, which the output
limit has already bounded.
"""

from __future__ import annotations

import re
from html import unescape

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


# One token at a time: a comment, a declaration or processing instruction, a tag (quoted attribute values may hold
# `>`), a run of text, or a stray `<`. A regex scanner rather than `html.parser`: the text part is generated for
# every recipient, and the stdlib parser cost more than the rest of a render put together.
# A tag never runs past the next `<`, and its quantifiers are possessive: a failed tag is given up at the next `<`
# without backtracking, so the scan stays linear in the HTML whatever a template outputs (an unclosed `<a` repeated
# a few thousand times used to keep one match busy for hours). Browsers do not read a raw `<` inside a tag either.
_TOKEN = re.compile(
    r"""<!--.*?(?:-->|\Z)
      | <[!?][^>]*>?
      | <(/?)([a-zA-Z][^\s/><]*+)((?:[^>"'<]++|"[^"<]*+"|'[^'<]*+')*+)>
      | [^<]+
      | <""",
    re.S | re.X,
)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")
# Their content is not markup: skip to the closing tag.
_RAW_TEXT_END = {tag: re.compile(rf"</{tag}", re.I) for tag in ("script", "style")}


def _attributes(raw: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for match in _ATTR.finditer(raw):
        name, *values = match.groups()
        value = next((v for v in values if v is not None), None)
        found.setdefault(name.lower(), None if value is None else unescape(value))
    return found


class _TextExtractor:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._hidden = 0
        self._links: list[str | None] = []

    def feed(self, html: str) -> None:
        pos, end = 0, len(html)
        while pos < end:
            match = _TOKEN.match(html, pos)
            assert match is not None  # the last alternative matches any remaining character
            pos = match.end()
            tag = match.group(2)
            if tag is None:
                token = match.group(0)
                if token[0] != "<" and not self._hidden:
                    self._parts.append(unescape(token))
                elif token == "<" and not self._hidden:
                    self._parts.append(token)
                continue
            tag, attrs = tag.lower(), match.group(3)
            if match.group(1):
                self._end(tag)
                continue
            self._start(tag, attrs)
            if attrs.rstrip().endswith("/"):
                self._end(tag)
            elif tag in _RAW_TEXT_END:
                close = _RAW_TEXT_END[tag].search(html, pos)
                pos = end if close is None else close.start()

    def _start(self, tag: str, raw_attrs: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")
        if tag == "a":
            href = _attributes(raw_attrs).get("href")
            self._links.append(href.strip() if href else None)
        elif tag == "img" and not self._hidden:
            alt = _attributes(raw_attrs).get("alt")
            if alt:
                self._parts.append(alt)

    def _end(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith(("#", "javascript:")) and not self._hidden:
                self._parts.append(f" ({href})")

    def text(self) -> str:
        # One pass of each regex over the whole text (never a newline in _SPACES), not one per line.
        collapsed = _SPACES.sub(" ", "".join(self._parts).replace("\r\n", "\n"))
        lines = [line.strip() for line in collapsed.split("\n")]
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text for `html`."""
    extractor = _TextExtractor()
    extractor.feed(html)
    return extractor.text()
